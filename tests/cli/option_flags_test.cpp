// The CLI's translation from the options fields library messages name to the flags of the command.
#include <gtest/gtest.h>

#include "bipeft/cli/option_flags.h"

namespace bipeft::cli {
namespace {

struct Flags {
  int64_t value = 0;
  CLI::App app{"test"};
  Flags() {
    for (const char* f : {"--epochs", "--lr", "--retrain-lr", "--batch", "--dist-timeout", "--threshold"})
      app.add_option(f, value);
  }
};

TEST(OptionFlags, ReferencesBecomeTheFlagsOfTheCommand) {
  Flags f;
  EXPECT_EQ(with_flags(f.app, "search", "raise SearchOptions.epochs or lower SearchOptions.threshold"),
            "raise --epochs or lower --threshold");
  // TrainOptions under search is the retrain stage (--retrain-); under train the plain flag.
  EXPECT_EQ(with_flags(f.app, "search", "lower TrainOptions.lr or check the data"), "lower --retrain-lr or check the data");
  EXPECT_EQ(with_flags(f.app, "train", "lower TrainOptions.lr"), "lower --lr");
  // No --retrain-batch here: the plain flag; the renamed fields (batch_size is --batch, dist::connect's
  // timeout --dist-timeout).
  EXPECT_EQ(with_flags(f.app, "search", "TrainOptions.batch_size and dist::connect.timeout"), "--batch and --dist-timeout");
}

TEST(OptionFlags, LeavesWhatIsNotAReferenceOrHasNoFlag) {
  Flags f;
  // No flag for the field in this command: the field name stays, so the message still says what to change.
  EXPECT_EQ(with_flags(f.app, "search", "widen SpaceOptions.space"), "widen SpaceOptions.space");
  // File names, versions and prose with dots are not references.
  const std::string prose = "wrote structure.json and adapter_config.json (peft 0.6.1); e.g. lr.x";
  EXPECT_EQ(with_flags(f.app, "search", prose), prose);
  EXPECT_EQ(with_flags(f.app, "search", ""), "");
  // A reference at either end of the text.
  EXPECT_EQ(with_flags(f.app, "search", "SearchOptions.lr"), "--lr");
}

TEST(OptionFlags, TheCurrentCommandTranslatesLogLines) {
  Flags f;
  set_current_command(nullptr, "");
  EXPECT_EQ(with_current_flags("raise SearchOptions.epochs"), "raise SearchOptions.epochs");
  set_current_command(&f.app, "search");
  EXPECT_EQ(with_current_flags("raise SearchOptions.epochs"), "raise --epochs");
  set_current_command(nullptr, "");
}

}  // namespace
}  // namespace bipeft::cli
