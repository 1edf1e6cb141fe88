#include "bipeft/train/train_state.h"

#include <gtest/gtest.h>

#include <cmath>

#include "bipeft/core/error.h"

namespace bipeft::train {
namespace {

TrainState sample_state() {
  TrainState s;
  s.step = 12;
  s.epoch = 1;
  s.batch = 4;
  s.total_steps = 30;
  s.trainable = 4096;
  s.epoch_loss = 3.5;
  s.window_loss = 1.25;
  s.epoch_batches = 4;
  s.window = 2;
  s.final_loss = 0.9;
  s.has_best = true;
  s.best_value = 71.5;
  s.best_epoch = 1;
  s.best_dev.metrics = {{"accuracy", 71.5}, {"f1", 70.0}};
  s.history = {{{"event", "eval"}, {"epoch", 1}}};
  s.train_seconds = 10.5;
  s.eval_seconds = 2.5;
  return s;
}

TEST(TrainState, JsonRoundTripKeepsEveryField) {
  const auto j = sample_state().to_json();
  for (const char* key : {"step", "epoch", "batch", "total_steps", "trainable", "epoch_loss", "window_loss",
                          "epoch_batches", "window", "has_best", "best_value", "best_epoch", "best_dev_metrics",
                          "history", "final_loss", "train_seconds", "eval_seconds"})
    EXPECT_TRUE(j.contains(key)) << key;
  const auto r = TrainState::from_json(j, "train_state.safetensors");
  EXPECT_EQ(r.to_json(), j);
  ASSERT_EQ(r.best_dev.metrics.size(), 2u);
  EXPECT_EQ(r.best_dev.metrics[1].first, "f1");
  EXPECT_DOUBLE_EQ(r.best_value, 71.5);
}

TEST(TrainState, NoBestYetIsNullInJsonAndMinusInfinityBack) {
  auto s = sample_state();
  s.has_best = false;
  s.best_value = -INFINITY;
  const auto j = s.to_json();
  EXPECT_TRUE(j.at("best_value").is_null());
  const auto r = TrainState::from_json(j, "x");
  EXPECT_TRUE(std::isinf(r.best_value) && r.best_value < 0);
}

TEST(TrainState, AMissingOrDamagedFieldIsNamed) {
  auto j = sample_state().to_json();
  j["window"] = "two";
  try {
    TrainState::from_json(j, "run/train_state.safetensors");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("run/train_state.safetensors"), std::string::npos) << what;
    EXPECT_NE(what.find("\"window\""), std::string::npos) << what;
  }
  auto k = sample_state().to_json();
  k.erase("best_dev_metrics");
  EXPECT_THROW(TrainState::from_json(k, "x"), FormatError);
}

}  // namespace
}  // namespace bipeft::train
