// Metric values worked out by hand (see the comments), including the degenerate cases.
#include "bipeft/eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::eval {
namespace {

using S = std::vector<std::string>;

TEST(Metrics, AccuracyIsThePercentageOfExactMatches) {
  EXPECT_DOUBLE_EQ(accuracy({"1", "0", "1", "1"}, {"1", "1", "1", "0"}), 50.0);
  EXPECT_DOUBLE_EQ(accuracy({" 1"}, {"1"}), 0.0);  // exact string match
  EXPECT_DOUBLE_EQ(accuracy({}, {}), 0.0);
  EXPECT_THROW_WITH(accuracy({"1"}, {"1", "0"}), FormatError, "1 predictions for 2 targets");
}

TEST(Metrics, BinaryF1CountsInvalidPredictionsAsWrong) {
  // tp: #0 #3; fn: #1, #4 (invalid, gold 1); fp: #2 -> 2*2 / (2*2 + 1 + 2) = 4/7
  EXPECT_NEAR(f1_binary({"1", "0", "1", "1", "x"}, {"1", "1", "0", "1", "1"}, "1", "0"), 400.0 / 7.0, 1e-9);
  // An invalid prediction with gold 0 becomes a false positive: tp 1, fp 1 -> 2/3
  EXPECT_NEAR(f1_binary({"1", "maybe"}, {"1", "0"}, "1", "0"), 200.0 / 3.0, 1e-9);
  // Label words (t5 format)
  EXPECT_DOUBLE_EQ(f1_binary({"equivalent"}, {"equivalent"}, "equivalent", "not_equivalent"), 100.0);
  // No positives predicted and none gold: 0 (sklearn zero_division=0)
  EXPECT_DOUBLE_EQ(f1_binary({"0", "0"}, {"0", "0"}, "1", "0"), 0.0);
}

TEST(Metrics, MacroF1AveragesPerClassF1WithZeroDivisionOne) {
  // class 0: tp1 fp1 fn1 -> 1/2; class 1: tp1 fp1 -> 2/3; class 2: tp1 fn1 -> 2/3; mean 11/18
  EXPECT_NEAR(macro_f1({"0", "1", "1", "2", "0"}, {"0", "0", "1", "2", "2"}, {"0", "1", "2"}), 1100.0 / 18.0, 1e-9);
  // class 2 absent from predictions and gold scores 1
  EXPECT_DOUBLE_EQ(macro_f1({"0", "1"}, {"0", "1"}, {"0", "1", "2"}), 100.0);
  // all wrong: classes 0 and 1 score 0, class 2 (absent) scores 1
  EXPECT_NEAR(macro_f1({"1", "1"}, {"0", "0"}, {"0", "1", "2"}), 100.0 / 3.0, 1e-9);
  // an invalid prediction matches no class: class 0 fn1 -> 0, class 1 tp1 -> 1
  EXPECT_NEAR(macro_f1({"?", "1"}, {"0", "1"}, {"0", "1"}), 50.0, 1e-9);
}

TEST(Metrics, MatthewsMatchesTheBinaryFormulaAndTheMulticlassForm) {
  // TP 3, TN 2, FP 1, FN 1: (3*2 - 1*1) / sqrt(4*4*3*3) = 5/12
  const S pred = {"1", "1", "1", "1", "0", "0", "0"}, gold = {"1", "1", "1", "0", "0", "0", "1"};
  EXPECT_NEAR(matthews(pred, gold), 500.0 / 12.0, 1e-9);
  // Invalid "x" is its own class: c=3, n=4, t=(2,2,0), p=(1,2,1): (12-6)/sqrt((16-6)(16-8)) = 6/sqrt(80)
  EXPECT_NEAR(matthews({"1", "0", "1", "x"}, {"1", "0", "1", "0"}), 600.0 / std::sqrt(80.0), 1e-9);
  EXPECT_DOUBLE_EQ(matthews({"1", "1", "1"}, {"1", "0", "1"}), 0.0);  // constant predictions
  EXPECT_DOUBLE_EQ(matthews({"1", "0", "1"}, {"1", "1", "1"}), 0.0);  // one gold class
  EXPECT_DOUBLE_EQ(matthews({"1", "0"}, {"0", "1"}), -100.0);
  EXPECT_DOUBLE_EQ(matthews({}, {}), 0.0);
}

TEST(Metrics, PearsonAndSpearmanByHandAndZeroWhenUndefined) {
  // x=[1,2,3,4], y=[2,4,5,4]: sxy 3.5, sxx 5, syy 4.75
  EXPECT_NEAR(pearson({1, 2, 3, 4}, {2, 4, 5, 4}), 100.0 * 3.5 / std::sqrt(5.0 * 4.75), 1e-9);
  // ranks of y with ties: [1, 2.5, 4, 2.5] -> sxy 3, syy 4.5
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {2, 4, 5, 4}), 100.0 * 3.0 / std::sqrt(5.0 * 4.5), 1e-9);
  EXPECT_NEAR(spearman({1, 2, 3}, {10, 100, 1000}), 100.0, 1e-9);
  EXPECT_NEAR(pearson({1, 2, 3}, {3, 2, 1}), -100.0, 1e-9);
  EXPECT_DOUBLE_EQ(pearson({1, 2, 3}, {2, 2, 2}), 0.0);  // zero variance
  EXPECT_DOUBLE_EQ(spearman({2, 2, 2}, {1, 2, 3}), 0.0);
  EXPECT_DOUBLE_EQ(pearson({1}, {1}), 0.0);
  EXPECT_DOUBLE_EQ(pearson({}, {}), 0.0);
}

TEST(Metrics, GroupExactMatchNeedsEveryAnswerOfAQuestionRight) {
  // group 0 right, group 1 has a miss, group 2 right -> 2/3
  EXPECT_NEAR(group_exact_match({"1", "0", "1", "1", "0"}, {"1", "0", "1", "0", "0"}, {0, 0, 1, 1, 2}), 200.0 / 3.0,
              1e-9);
  // ungrouped rows (-1) are groups of their own: 1 of 2 right
  EXPECT_DOUBLE_EQ(group_exact_match({"1", "0"}, {"1", "1"}, {-1, -1}), 50.0);
  EXPECT_DOUBLE_EQ(group_exact_match({}, {}, {}), 0.0);
}

TEST(Metrics, SquadEmAndF1TakeTheBestGoldAnswerAndSkipUnanswerable) {
  // #0: exact after normalisation; #1: "cat sat" vs "a cat sat down" -> P 1, R 2/3, F1 0.8; #2: no gold, skipped
  const auto s = squad_em_f1({"The Cat!", "the cat sat", "anything"}, {{"dog", "cat"}, {"a cat sat down"}, {}});
  EXPECT_NEAR(s.em, 50.0, 1e-9);
  EXPECT_NEAR(s.f1, 100.0 * (1.0 + 0.8) / 2.0, 1e-9);
  const auto none = squad_em_f1({"x"}, {{}});
  EXPECT_DOUBLE_EQ(none.em, 0.0);
  EXPECT_DOUBLE_EQ(none.f1, 0.0);
}

}  // namespace
}  // namespace bipeft::eval
