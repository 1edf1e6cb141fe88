#include <gtest/gtest.h>

#include <cmath>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "bipeft/eval/metrics.h"
#include "bipeft/eval/postprocess.h"
#include "test_util.h"

namespace bipeft::eval {
namespace {

using data::Example;
using data::make_example;

std::vector<Example> gold_of(const std::vector<std::string>& targets, const std::vector<int64_t>& groups = {}) {
  std::vector<Example> out;
  for (size_t i = 0; i < targets.size(); ++i) out.push_back(make_example("", targets[i], groups.empty() ? -1 : groups[i]));
  return out;
}

data::TaskData info(const std::string& task, data::PromptFormat format = data::PromptFormat::Paper) {
  data::TaskOptions o;
  o.format = format;
  return data::task_info(task, o);
}

TEST(MetricScore, ReturnsThePaperMetricsInOrder) {
  const auto s = score(info("mrpc"), {"1", "0", "1", "x"}, gold_of({"1", "0", "0", "1"}));
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].first, "f1");
  EXPECT_NEAR(s[0].second, 100.0 * 2 / (2 + 1 + 1), 1e-9);  // tp1 fp1 fn1 (invalid)
  EXPECT_EQ(s[1].first, "accuracy");
  EXPECT_DOUBLE_EQ(s[1].second, 50.0);
  const auto cb = score(info("cb"), {"0", "1", "2"}, gold_of({"0", "1", "1"}));
  EXPECT_EQ(cb[0].first, "accuracy");
  EXPECT_EQ(cb[1].first, "macro_f1");
  EXPECT_EQ(score(info("cola"), {"1", "0"}, gold_of({"1", "0"}))[0], (std::pair<std::string, double>{"mcc", 100.0}));
}

TEST(MetricScore, T5FormatScoresLabelWords) {
  const auto s = score(info("mrpc", data::PromptFormat::T5), {"equivalent", "not_equivalent", "1"},
                       gold_of({"equivalent", "equivalent", "not_equivalent"}));
  EXPECT_NEAR(s[0].second, 100.0 * 2 / (2 + 0 + 1 + 1), 1e-9);  // tp1, fn1, "1" is invalid -> fp1
  EXPECT_NEAR(s[1].second, 100.0 / 3.0, 1e-9);
}

TEST(MetricScore, StsbParsesNumbersAndUnparseableIsMinusOne) {
  const auto s = score(info("stsb"), {"1.0", "2.0", "oops"}, gold_of({"1.0", "2.0", "3.0"}));
  // predictions [1, 2, -1] vs [1, 2, 3]: mx 2/3, dx [1/3, 4/3, -5/3]; dy [-1, 0, 1]; sxy = -1/3 - 5/3 = -2; sxx = 42/9; syy = 2
  EXPECT_EQ(s[0].first, "pearson");
  EXPECT_NEAR(s[0].second, 100.0 * -2.0 / std::sqrt(42.0 / 9.0 * 2.0), 1e-9);
  EXPECT_EQ(s[1].first, "spearman");
  EXPECT_NEAR(s[1].second, -50.0, 1e-9);  // ranks [2,3,1] vs [1,2,3]: sxy -1, sxx syy 2
  EXPECT_DOUBLE_EQ(score(info("stsb"), {"2", "2"}, gold_of({"1.0", "3.0"}))[0].second, 0.0);
  EXPECT_THROW_WITH(score(info("stsb"), {"1"}, gold_of({"high"})), FormatError, "is not a number");
}

TEST(MetricScore, MultircScoresAllAnswersAndWholeQuestions) {
  const auto s = score(info("multirc"), {"1", "0", "1", "1"}, gold_of({"1", "0", "1", "0"}, {7, 7, 8, 8}));
  EXPECT_EQ(s[0].first, "f1");
  EXPECT_NEAR(s[0].second, 100.0 * 4 / (4 + 1), 1e-9);  // tp2 fp1
  EXPECT_EQ(s[1].first, "em");
  EXPECT_DOUBLE_EQ(s[1].second, 50.0);
}

TEST(MetricScore, RecordKeepsOnePredictionPerQuery) {
  // Query 0 appears twice (two gold answers); only its first prediction counts.
  std::vector<Example> gold = {make_example("q0", "Lionel Messi", 0), make_example("q0", "Messi", 0),
                               make_example("q1", "Inter Miami", 1)};
  gold[0].answers = gold[1].answers = {"Lionel Messi", "Messi"};
  const auto s = score(info("record"), {"messi", "wrong", "the Inter Miami"}, gold);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].first, "f1");
  EXPECT_DOUBLE_EQ(s[0].second, 100.0);
  EXPECT_EQ(s[1].first, "em");
  EXPECT_DOUBLE_EQ(s[1].second, 100.0);
}

TEST(MetricScore, CustomClassesComeFromTheGoldWhenUnknown) {
  data::TaskOptions o;
  const auto task = data::task_info("custom", o);
  const auto s = score(task, {"yes", "no", "no"}, gold_of({"yes", "no", "yes"}));
  EXPECT_EQ(s[0].first, "accuracy");
  EXPECT_NEAR(s[0].second, 200.0 / 3.0, 1e-9);
  EXPECT_EQ(s[1].first, "macro_f1");
  EXPECT_NEAR(s[1].second, 200.0 / 3.0, 1e-9);  // no: tp1 fp1 -> 2/3; yes: tp1 fn1 -> 2/3
}

TEST(MetricScore, CountMismatchAndEmptyInputAreClearErrors) {
  EXPECT_THROW_WITH(score(info("rte"), {"1"}, gold_of({"1", "0"})), FormatError, "1 predictions for 2 gold examples");
  EXPECT_THROW_WITH(score(info("rte"), {}, {}), FormatError, "nothing to score");
}

TEST(MetricScore, PostprocessMapsTextBackToLabels) {
  EXPECT_EQ(label_index("not_entailment", {"entailment", "not_entailment"}), 1);
  EXPECT_EQ(label_index("Entailment", {"entailment", "not_entailment"}), -1);
  EXPECT_DOUBLE_EQ(parse_float_or("3.8", -1), 3.8);
  EXPECT_DOUBLE_EQ(parse_float_or("three", -1), -1);
}

}  // namespace
}  // namespace bipeft::eval
