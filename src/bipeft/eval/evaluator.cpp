#include "bipeft/eval/evaluator.h"

#include <algorithm>

#include "bipeft/core/error.h"
#include "bipeft/core/timer.h"
#include "bipeft/dist/data_parallel.h"
#include "bipeft/eval/metrics.h"
#include "bipeft/eval/rank_decoding.h"
#include "bipeft/model/generate.h"

namespace bipeft::eval {

nlohmann::json EvalResult::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : metrics) j[k] = v;
  return j;
}

namespace {

// Greedy generation, decoded: one string per example.
std::vector<std::string> generated_predictions(model::T5ModelImpl& model, const text::Tokenizer& tokenizer,
                                               const data::TaskData& task,
                                               const std::vector<data::TokenizedExample>& tokenized,
                                               const EvalOptions& options, const RunContext& ctx) {
  const int64_t max_new = options.max_new_tokens > 0 ? options.max_new_tokens : data::max_target_length(tokenizer, task);
  const auto n = tokenized.size();
  auto batches = data::epoch_batches(n, options.batch_size, 0, 0, /*shuffle=*/false);
  const auto device = model.shared->weight.device();
  // Data parallelism: process r generates batches r, r+W, ...; the generated ids (padded with the pad
  // id 0, which decoding skips) are summed into one table that every process decodes.
  const dist::DataParallel dp(ctx.comm);
  if (tokenizer.pad_id() != 0) throw Error("evaluate: the generated-id table assumes pad id 0 (T5's)");
  auto all_ids = at::zeros({static_cast<int64_t>(n), max_new + 1}, at::kLong);
  int64_t done = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& idx = batches[b];
    if (!dp.takes(b)) continue;
    auto batch = data::make_batch(tokenized, idx, tokenizer.pad_id());
    auto ids = model::greedy_generate(model, batch.input_ids.to(device), batch.attention_mask.to(device), max_new).cpu();
    const int64_t len = std::min<int64_t>(ids.size(1), all_ids.size(1));
    for (size_t r = 0; r < idx.size(); ++r)
      all_ids[static_cast<int64_t>(idx[r])].slice(0, 0, len).copy_(ids[static_cast<int64_t>(r)].slice(0, 0, len));
    done += static_cast<int64_t>(idx.size());
    ctx.report({options.label, done, static_cast<int64_t>(n), ""});
  }
  dp.sum_(all_ids);  // each row is non-zero only on the process that generated it (T5's pad id is 0)
  std::vector<std::string> predictions(n);
  for (size_t i = 0; i < n; ++i) {
    auto row = all_ids[static_cast<int64_t>(i)].contiguous();
    std::vector<int64_t> v(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
    predictions[i] = tokenizer.decode(v);
  }
  return predictions;
}

}  // namespace

EvalResult evaluate(model::T5ModelImpl& model, const text::Tokenizer& tokenizer, const data::TaskData& task,
                    const std::vector<data::Example>& examples, const std::vector<data::TokenizedExample>& tokenized,
                    const EvalOptions& options, const RunContext& ctx) {
  if (examples.empty() || examples.size() != tokenized.size())
    throw FormatError(task.name + ": nothing to evaluate (empty split)");
  Timer timer;
  // Before the model is touched: a task rank decoding cannot score fails here.
  const auto candidates = options.decoding == Decoding::Rank ? rank_candidates(task) : RankCandidates{};
  const bool was_training = model.is_training();
  model.eval();
  EvalResult result;
  if (options.decoding == Decoding::Rank) {
    const auto ll = candidate_log_likelihoods(model, tokenizer, tokenized, candidates.texts, options.batch_size, ctx,
                                              options.label);
    result.predictions = rank_predictions(ll, candidates);
  } else {
    result.predictions = generated_predictions(model, tokenizer, task, tokenized, options, ctx);
  }
  if (ctx.progress) ctx.progress->finish(options.label);
  model.train(was_training);
  result.metrics = score(task, result.predictions, examples);
  result.seconds = timer.seconds();
  return result;
}

}  // namespace bipeft::eval
