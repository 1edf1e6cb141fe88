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

// Evaluates the tiny model on `task`'s dev split in one process and as two Gloo workers: every worker
// must end with exactly the one-process predictions and scores, which must differ between examples.
void expect_two_workers_match_one_process(const std::string& task_name, int64_t max_target_length,
                                          const eval::EvalOptions& eo) {
  if (!dist::has_gloo()) GTEST_FAIL() << "this build has no c10d Gloo (install libgloo-dev and rebuild)";
  const auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  const auto task = data::load_task(task_name, test::source_path("examples/data/" + task_name), data::TaskOptions{});
  const auto& examples = task.dev;
  ASSERT_GE(examples.size(), 20u);
  const auto tokenized = data::tokenize_examples(tok, examples, task.max_source_length, max_target_length);
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

TEST(ShardedEval, TwoGlooWorkersPredictExactlyWhatOneProcessDoes) {
  eval::EvalOptions eo;
  eo.batch_size = 7;          // several batches, the last one short, an odd count split over 2 processes
  eo.max_new_tokens = 4;      // a random model rarely stops: predictions are varied token strings
  expect_two_workers_match_one_process("sst2", 4, eo);
}

TEST(ShardedEval, TwoGlooWorkersRankExactlyWhatOneProcessDoes) {
  eval::EvalOptions eo;
  eo.batch_size = 7;
  eo.decoding = eval::Decoding::Rank;  // expected values: a different number per example
  expect_two_workers_match_one_process("stsb", 8, eo);
}

}  // namespace
}  // namespace bipeft
