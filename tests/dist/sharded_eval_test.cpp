// Evaluation in a data-parallel run: each process generates every W-th batch and the predictions are
// put together, so every process ends with exactly the one-process predictions and scores.
#include <gtest/gtest.h>

#include <set>

#include "bipeft/data/collate.h"
#include "bipeft/data/task.h"
#include "bipeft/dist/communicator.h"
#include "bipeft/eval/evaluator.h"
#include "bipeft/text/tokenizer.h"
#include "dist/loopback.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft {
namespace {

TEST(ShardedEval, TwoGlooWorkersPredictExactlyWhatOneProcessDoes) {
  if (!dist::has_gloo()) GTEST_FAIL() << "this build has no c10d Gloo (install libgloo-dev and rebuild)";
  const auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  const auto task = data::load_task("sst2", test::source_path("examples/data/sst2"), data::TaskOptions{});
  const auto& examples = task.dev;
  ASSERT_GE(examples.size(), 20u);
  const auto tokenized = data::tokenize_examples(tok, examples, task.max_source_length, 4);
  eval::EvalOptions eo;
  eo.batch_size = 7;          // several batches, the last one short, an odd count split over 2 processes
  eo.max_new_tokens = 4;      // a random model rarely stops: predictions are varied token strings
  auto one_model = test::tiny_t5_with_real_vocab(3);
  const auto one = eval::evaluate(*one_model, tok, task, examples, tokenized, eo, RunContext{});
  std::set<std::string> distinct(one.predictions.begin(), one.predictions.end());
  ASSERT_GT(distinct.size(), 1u) << "the check needs predictions that differ between examples";

  const auto results = test::on_two_loopback_workers([&](std::shared_ptr<dist::Communicator> comm) {
    RunContext ctx;
    ctx.comm = std::move(comm);
    auto m = test::tiny_t5_with_real_vocab(3);
    return eval::evaluate(*m, tok, task, examples, tokenized, eo, ctx);
  });
  for (const auto& r : results) {
    EXPECT_EQ(r.predictions, one.predictions);
    EXPECT_EQ(r.metrics, one.metrics);
  }
}

TEST(ShardedEval, TwoGlooWorkersRankExactlyWhatOneProcessDoes) {
  if (!dist::has_gloo()) GTEST_FAIL() << "this build has no c10d Gloo (install libgloo-dev and rebuild)";
  const auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  const auto task = data::load_task("stsb", test::source_path("examples/data/stsb"), data::TaskOptions{});
  const auto& examples = task.dev;
  const auto tokenized = data::tokenize_examples(tok, examples, task.max_source_length, 8);
  eval::EvalOptions eo;
  eo.batch_size = 7;
  eo.decoding = eval::Decoding::Rank;  // expected values: a different number per example
  auto one_model = test::tiny_t5_with_real_vocab(3);
  const auto one = eval::evaluate(*one_model, tok, task, examples, tokenized, eo, RunContext{});
  std::set<std::string> distinct(one.predictions.begin(), one.predictions.end());
  ASSERT_GT(distinct.size(), 1u);
  const auto results = test::on_two_loopback_workers([&](std::shared_ptr<dist::Communicator> comm) {
    RunContext ctx;
    ctx.comm = std::move(comm);
    auto m = test::tiny_t5_with_real_vocab(3);
    return eval::evaluate(*m, tok, task, examples, tokenized, eo, ctx);
  });
  for (const auto& r : results) {
    EXPECT_EQ(r.predictions, one.predictions);
    EXPECT_EQ(r.metrics, one.metrics);
  }
}

}  // namespace
}  // namespace bipeft
