#include "bipeft/train/pretrain_state.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"

namespace bipeft::train {
namespace {

TEST(PretrainState, JsonRoundTripKeepsEveryFieldUnderTheSavedKeyNames) {
  PretrainState s;
  s.step = 300;
  s.epoch = 2;
  s.batch = 17;
  s.total_steps = 1000;
  s.chunks = 5000;
  s.parameters = 15570944;
  s.window_loss = 12.5;
  s.window = 5;
  s.input_tokens = 1234567;
  s.final_loss = 2.5;
  s.train_curve = {{100, 3.5}, {200, 3.0}};
  s.heldout_curve = {{0, 6.0}, {200, 3.25}};
  s.seconds = 99.5;
  const auto j = s.to_json();
  for (const char* key : {"step", "epoch", "batch", "total_steps", "chunks", "parameters", "window_loss", "window",
                          "input_tokens", "final_loss", "train_curve", "heldout_curve", "seconds"})
    EXPECT_TRUE(j.contains(key)) << key;
  const auto r = PretrainState::from_json(j, "pretrain_state.safetensors");
  EXPECT_EQ(r.to_json(), j);
  EXPECT_EQ(r.input_tokens, 1234567);
  ASSERT_EQ(r.heldout_curve.size(), 2u);
  EXPECT_DOUBLE_EQ(r.heldout_curve[1][1], 3.25);
}

TEST(PretrainState, AMissingFieldIsNamed) {
  auto j = PretrainState().to_json();
  j.erase("chunks");
  try {
    PretrainState::from_json(j, "out/pretrain_state.safetensors");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("out/pretrain_state.safetensors"), std::string::npos) << what;
    EXPECT_NE(what.find("\"chunks\""), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace bipeft::train
