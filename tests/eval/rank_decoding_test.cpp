// Rank decoding: the candidates of a task, the candidate log-likelihoods (equal to the model's own loss
// on each candidate, whatever the batching), and the predictions made from them.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "bipeft/core/error.h"
#include "bipeft/data/collate.h"
#include "bipeft/data/prompt.h"
#include "bipeft/eval/evaluator.h"
#include "bipeft/eval/rank_decoding.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::eval {
namespace {

data::TaskData stsb_sample() {
  return data::load_task("stsb", test::source_path("examples/data/stsb"), data::TaskOptions{});
}

TEST(RankDecoding, ParsesItsNamesAndNamesTheField) {
  EXPECT_EQ(parse_decoding("generate", "TrainOptions"), Decoding::Generate);
  EXPECT_EQ(parse_decoding("rank", "TrainOptions"), Decoding::Rank);
  EXPECT_EQ(decoding_name(Decoding::Rank), "rank");
  EXPECT_THROW_WITH(parse_decoding("beam", "TrainOptions"), OptionError, "TrainOptions.decoding must be generate or rank");
}

TEST(RankDecoding, CandidatesAreTheLabelsOrTheDistinctRegressionTargets) {
  const auto sst2 = test::sst2_sample();
  const auto c = rank_candidates(sst2);
  EXPECT_EQ(c.texts, sst2.labels);
  EXPECT_TRUE(c.values.empty());

  const auto stsb = stsb_sample();
  const auto r = rank_candidates(stsb);
  ASSERT_GE(r.texts.size(), 5u);
  ASSERT_EQ(r.texts.size(), r.values.size());
  std::set<std::string> train_targets;
  for (const auto& e : stsb.train) train_targets.insert(e.target);
  for (size_t i = 0; i < r.texts.size(); ++i) {
    double v = -1;
    ASSERT_TRUE(data::parse_number(r.texts[i], v)) << r.texts[i];
    EXPECT_DOUBLE_EQ(v, r.values[i]);
    EXPECT_TRUE(train_targets.count(r.texts[i])) << r.texts[i] << " is not a train target";
    if (i > 0) {
      EXPECT_LT(r.values[i - 1], r.values[i]) << "sorted and distinct";
    }
  }
  // Every distinct train value is a candidate.
  std::set<double> values;
  for (const auto& t : train_targets) {
    double v = 0;
    data::parse_number(t, v);
    values.insert(v);
  }
  EXPECT_EQ(values.size(), r.values.size());

  const auto record = data::load_task("record", test::data_path("fixtures/superglue-samples/ReCoRD"), data::TaskOptions{});
  EXPECT_THROW_WITH(rank_candidates(record), ConfigError, "free text");
}

TEST(RankDecoding, PredictionsAreTheBestLabelOrTheExpectedValue) {
  RankCandidates labels{{"negative", "positive"}, {}};
  const auto table = at::tensor({0.0, -1.0, -3.0, -0.5}, at::kDouble).view({2, 2});
  EXPECT_EQ(rank_predictions(table, labels), (std::vector<std::string>{"negative", "positive"}));

  RankCandidates values{{"1.0", "3.0"}, {1.0, 3.0}};
  const auto p = at::tensor({std::log(0.25), std::log(0.75), -2.0, -2.0}, at::kDouble).view({2, 2});
  EXPECT_EQ(rank_predictions(p, values), (std::vector<std::string>{"2.5000", "2.0000"}));
  EXPECT_THROW(rank_predictions(at::zeros({2, 3}, at::kDouble), values), ShapeError);
}

TEST(RankDecoding, LogLikelihoodsAreTheModelsLossOnEachCandidateInAnyBatching) {
  const auto tok = test::example_tokenizer();
  const auto task = stsb_sample();
  std::vector<data::Example> examples(task.dev.begin(), task.dev.begin() + 5);
  const auto tokenized = data::tokenize_examples(tok, examples, task.max_source_length, 8);
  const std::vector<std::string> candidates{"0.0", "2.4", "5.0", "positive"};  // different token lengths
  auto model = test::tiny_t5_with_real_vocab(3);
  model->eval();
  const RunContext ctx;
  const auto ll = candidate_log_likelihoods(*model, tok, tokenized, candidates, 2, ctx, "rank");
  ASSERT_EQ(ll.sizes(), (at::IntArrayRef{5, 4}));
  const auto one_by_one = candidate_log_likelihoods(*model, tok, tokenized, candidates, 1, ctx, "rank");
  EXPECT_TRUE(at::allclose(ll, one_by_one, 1e-5, 1e-6)) << "padding of other rows must not change a row";
  at::NoGradGuard no_grad;
  for (int64_t i = 0; i < 5; ++i) {
    const auto& src = tokenized[static_cast<size_t>(i)].source_ids;
    const auto input = at::tensor(src, at::kLong).unsqueeze(0);
    for (size_t c = 0; c < candidates.size(); ++c) {
      const auto ids = tok.encode(candidates[c], true);
      const auto labels = at::tensor(ids, at::kLong).unsqueeze(0);
      const auto out = model->forward(input, at::ones_like(input), {}, labels);
      const double expected = -out.loss.item<double>() * static_cast<double>(ids.size());
      EXPECT_NEAR(ll[i][static_cast<int64_t>(c)].item<double>(), expected, 1e-4 * std::abs(expected))
          << "example " << i << " candidate " << candidates[c];
    }
  }
}

TEST(RankDecoding, EvaluateRanksOnlyTheTasksLabelsAndRegressionValues) {
  const auto tok = test::example_tokenizer();
  auto model = test::tiny_t5_with_real_vocab(5);
  EvalOptions eo;
  eo.decoding = Decoding::Rank;
  eo.batch_size = 16;
  const auto sst2 = test::sst2_sample();
  const auto sst2_tok = data::tokenize_examples(tok, sst2.dev, sst2.max_source_length, 8);
  const auto cls = evaluate(*model, tok, sst2, sst2.dev, sst2_tok, eo, RunContext{});
  ASSERT_EQ(cls.predictions.size(), sst2.dev.size());
  for (const auto& p : cls.predictions)
    EXPECT_TRUE(p == sst2.labels[0] || p == sst2.labels[1]) << "'" << p << "' is not a label";
  EXPECT_FALSE(cls.metrics.empty());

  const auto stsb = stsb_sample();
  const auto cands = rank_candidates(stsb);
  const auto stsb_tok = data::tokenize_examples(tok, stsb.dev, stsb.max_source_length, 8);
  const auto reg = evaluate(*model, tok, stsb, stsb.dev, stsb_tok, eo, RunContext{});
  std::set<std::string> distinct;
  for (const auto& p : reg.predictions) {
    double v = -1;
    ASSERT_TRUE(data::parse_number(p, v)) << p;
    EXPECT_GE(v, cands.values.front());
    EXPECT_LE(v, cands.values.back());
    distinct.insert(p);
  }
  // The expected value moves with each example even on a random model (greedy strings would not).
  EXPECT_GT(distinct.size(), reg.predictions.size() / 2);
  EXPECT_TRUE(std::isfinite(reg.primary()));

  const auto record = data::load_task("record", test::data_path("fixtures/superglue-samples/ReCoRD"), data::TaskOptions{});
  const auto& rec = record.train;
  ASSERT_FALSE(rec.empty());
  const auto rec_tok = data::tokenize_examples(tok, rec, record.max_source_length, 8);
  const bool mode = model->is_training();
  EXPECT_THROW_WITH(evaluate(*model, tok, record, rec, rec_tok, eo, RunContext{}), ConfigError, "free text");
  EXPECT_EQ(model->is_training(), mode) << "the model's mode is unchanged by a refused evaluation";
}

}  // namespace
}  // namespace bipeft::eval
