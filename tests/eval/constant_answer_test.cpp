// The constant-answer reference: chosen on one split by the first metric, scored on another.
#include <gtest/gtest.h>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "bipeft/eval/constant_answer.h"
#include "test_util.h"

namespace bipeft::eval {
namespace {

std::vector<data::Example> rows(const std::vector<std::string>& targets) {
  std::vector<data::Example> out;
  for (const auto& t : targets) out.push_back(data::make_example("x", t));
  return out;
}

TEST(ConstantAnswer, MajorityOfTheChoosingSplitScoredOnTheOther) {
  const auto task = data::task_info("sst2", data::TaskOptions{});
  // dev: mostly "1"; test: mostly "0". The answer is dev's majority, its test accuracy is 25.
  const auto c = constant_answer(task, rows({"1", "1", "1", "0"}), rows({"0", "0", "0", "1"}));
  EXPECT_EQ(c.prediction, "1");
  ASSERT_EQ(c.metrics.size(), 1u);
  EXPECT_NEAR(c.primary(), 25.0, 1e-9);
  EXPECT_NEAR(c.chosen_primary(), 75.0, 1e-9);  // its score on the split it was chosen on
  EXPECT_NEAR(constant_answer(task, rows({"0", "0", "1"}), rows({"0", "0", "0", "1"})).primary(), 75.0, 1e-9);
}

TEST(ConstantAnswer, F1TasksAnswerThePositiveClassAndCorrelationsAreZero) {
  const auto mrpc = data::task_info("mrpc", data::TaskOptions{});
  // F1 is the first metric: always "1" has F1 2p/(1+p) > 0, always "0" has F1 0.
  const auto c = constant_answer(mrpc, rows({"0", "0", "1"}), rows({"1", "0", "1", "1"}));
  EXPECT_EQ(c.prediction, "1");
  EXPECT_NEAR(c.primary(), 100.0 * 2 * 0.75 / 1.75, 1e-9);
  const auto stsb = data::task_info("stsb", data::TaskOptions{});
  const auto s = constant_answer(stsb, rows({"3.2", "1.0", "3.2"}), rows({"4.0", "0.4", "2.2"}));
  EXPECT_NEAR(s.primary(), 0.0, 1e-9);  // a constant has no correlation (rounding leaves ~1e-14)
  EXPECT_THROW(constant_answer(stsb, {}, rows({"1.0"})), FormatError);
}

}  // namespace
}  // namespace bipeft::eval
