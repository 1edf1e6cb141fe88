#include "bipeft/eval/evaluator.h"

#include "bipeft/core/error.h"
#include "bipeft/core/timer.h"
#include "bipeft/eval/metrics.h"
#include "bipeft/model/generate.h"

namespace bipeft::eval {

nlohmann::json EvalResult::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : metrics) j[k] = v;
  return j;
}

EvalResult evaluate(model::T5ModelImpl& model, const text::Tokenizer& tokenizer, const data::TaskData& task,
                    const std::vector<data::Example>& examples, const std::vector<data::TokenizedExample>& tokenized,
                    const EvalOptions& options, const RunContext& ctx) {
  if (examples.empty() || examples.size() != tokenized.size())
    throw FormatError(task.name + ": nothing to evaluate (empty split)");
  Timer timer;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t max_new = options.max_new_tokens > 0 ? options.max_new_tokens : data::max_target_length(tokenizer, task);
  EvalResult result;
  result.predictions.resize(examples.size());
  auto batches = data::epoch_batches(examples.size(), options.batch_size, 0, 0, /*shuffle=*/false);
  const auto device = model.shared->weight.device();
  int64_t done = 0;
  for (const auto& idx : batches) {
    auto batch = data::make_batch(tokenized, idx, tokenizer.pad_id());
    auto ids = model::greedy_generate(model, batch.input_ids.to(device), batch.attention_mask.to(device), max_new).cpu();
    for (size_t r = 0; r < idx.size(); ++r) {
      auto row = ids[static_cast<int64_t>(r)];
      std::vector<int64_t> v(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
      result.predictions[idx[r]] = tokenizer.decode(v);
    }
    done += static_cast<int64_t>(idx.size());
    ctx.report({options.label, done, static_cast<int64_t>(examples.size()), ""});
  }
  if (ctx.progress) ctx.progress->finish(options.label);
  model.train(was_training);
  result.metrics = score(task, result.predictions, examples);
  result.seconds = timer.seconds();
  return result;
}

}  // namespace bipeft::eval
