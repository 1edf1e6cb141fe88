// The supervised task mixture for pretraining: which tasks qualify, their training rows in the
// text-to-text format, and the form of a CLI entry.
#include "bipeft/data/task_mixture.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

const text::Tokenizer& tokenizer() {
  static const auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  return tok;
}

TEST(TaskMixture, ReadsTheTrainingRowsOfEachTaskInItsPromptFormat) {
  const auto stsb = test::source_path("examples/data/stsb"), rte = test::source_path("examples/data/rte");
  const auto mix = read_task_mixture({{"STS-B", stsb}, {"rte", rte}}, tokenizer());
  const auto stsb_task = load_task("stsb", stsb, TaskOptions{}), rte_task = load_task("rte", rte, TaskOptions{});
  ASSERT_EQ(mix.counts.size(), 2u);
  EXPECT_EQ(mix.counts[0], std::make_pair(std::string("stsb"), static_cast<int64_t>(stsb_task.train.size())));
  EXPECT_EQ(mix.counts[1], std::make_pair(std::string("rte"), static_cast<int64_t>(rte_task.train.size())));
  ASSERT_EQ(mix.examples.size(), stsb_task.train.size() + rte_task.train.size());
  // The first row is STS-B's first training row, as fine-tuning sees it; the last is RTE's last.
  const auto first = tokenize_examples(tokenizer(), {stsb_task.train.front()}, stsb_task.max_source_length,
                                       stsb_task.max_target_length);
  EXPECT_EQ(mix.examples.front().source_ids, first.front().source_ids);
  EXPECT_EQ(mix.examples.front().target_ids, first.front().target_ids);
  EXPECT_EQ(tokenizer().decode(mix.examples.front().source_ids).rfind("stsb sentence1:", 0), 0u);
  const auto last = tokenize_examples(tokenizer(), {rte_task.train.back()}, rte_task.max_source_length,
                                      rte_task.max_target_length);
  EXPECT_EQ(mix.examples.back().source_ids, last.front().source_ids);
  // A cap per task.
  const auto capped = read_task_mixture({{"stsb", stsb}, {"rte", rte}}, tokenizer(), 5);
  EXPECT_EQ(capped.examples.size(), 10u);
  EXPECT_EQ(capped.counts[1].second, 5);
}

TEST(TaskMixture, RefusesTasksWhoseDevComesFromTrainingAndOtherMisfits) {
  const auto sst2 = test::source_path("examples/data/sst2"), stsb = test::source_path("examples/data/stsb");
  EXPECT_THROW_WITH(read_task_mixture({{"sst2", sst2}}, tokenizer()), ConfigError, "dev rows");
  EXPECT_THROW_WITH(read_task_mixture({{"stsb", stsb}, {"sts-b", stsb}}, tokenizer()), ConfigError, "named twice");
  EXPECT_THROW_WITH(read_task_mixture({{"nope", stsb}}, tokenizer()), ConfigError, "nope");
  EXPECT_THROW_WITH(read_task_mixture({{"custom", stsb}}, tokenizer()), ConfigError, "custom");
  EXPECT_THROW(read_task_mixture({{"rte", stsb + "/missing"}}, tokenizer()), IoError);
  EXPECT_TRUE(read_task_mixture({}, tokenizer()).examples.empty());
}

TEST(TaskMixture, ParsesTaskEqualsDir) {
  const auto t = parse_mixture_task("stsb=glue/STS-B");
  EXPECT_EQ(t.task, "stsb");
  EXPECT_EQ(t.dir, "glue/STS-B");
  for (const char* bad : {"stsb", "=dir", "stsb=", ""}) EXPECT_THROW_WITH(parse_mixture_task(bad), ConfigError, "TASK=DIR");
}

}  // namespace
}  // namespace bipeft::data
