#include "bipeft/eval/rank_decoding.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "bipeft/core/error.h"
#include "bipeft/data/prompt.h"
#include "bipeft/dist/data_parallel.h"

namespace bipeft::eval {

RankCandidates rank_candidates(const data::TaskData& task) {
  RankCandidates c;
  if (!task.is_regression) {
    if (task.labels.empty())
      throw ConfigError(task.name + ": rank decoding needs a label set, and this task's answers are free text; "
                        "use generate decoding");
    c.texts = task.labels;
    return c;
  }
  std::map<double, std::string> distinct;  // by value; the first spelling of each value
  for (const auto& e : task.train) {
    double v = 0;
    if (!data::parse_number(e.target, v))
      throw FormatError(task.name + ": train target '" + e.target + "' is not a number; rank decoding of a "
                        "regression task needs numeric targets");
    distinct.emplace(v, e.target);
  }
  if (distinct.empty()) throw ConfigError(task.name + ": rank decoding needs the train split's targets, and it is empty");
  if (distinct.size() > 1000)
    throw ConfigError(task.name + ": " + std::to_string(distinct.size()) + " distinct train targets; rank decoding "
                      "scores each one per example and takes at most 1000: round the targets or use generate decoding");
  for (const auto& [v, text] : distinct) {
    c.values.push_back(v);
    c.texts.push_back(text);
  }
  return c;
}

at::Tensor candidate_log_likelihoods(model::T5ModelImpl& model, const text::Tokenizer& tokenizer,
                                     const std::vector<data::TokenizedExample>& examples,
                                     const std::vector<std::string>& candidates, int64_t batch_size,
                                     const RunContext& ctx, const std::string& label) {
  if (candidates.empty()) throw ConfigError("rank decoding: no candidate targets");
  at::NoGradGuard no_grad;
  const auto device = model.shared->weight.device();
  const auto C = static_cast<int64_t>(candidates.size());
  std::vector<std::vector<int64_t>> ids;
  int64_t L = 1;
  for (const auto& text : candidates) {
    ids.push_back(tokenizer.encode(text, /*add_eos=*/true));
    L = std::max<int64_t>(L, static_cast<int64_t>(ids.back().size()));
  }
  auto labels = at::full({C, L}, -100, at::kLong);
  for (int64_t c = 0; c < C; ++c)
    for (size_t t = 0; t < ids[static_cast<size_t>(c)].size(); ++t) labels[c][static_cast<int64_t>(t)] = ids[static_cast<size_t>(c)][t];
  const auto decoder_in = model.shift_right(labels).to(device);
  labels = labels.to(device);
  const auto kept = labels.ne(-100);
  const auto targets = labels.clamp_min(0);
  // Rows of one forward: the logits [rows x C, L, vocab] stay under ~64M floats.
  const int64_t vocab = model.shared->weight.size(0);
  const int64_t fit = std::max<int64_t>(1, (int64_t{64} << 20) / std::max<int64_t>(1, C * L * vocab));
  const int64_t rows = std::max<int64_t>(1, std::min(batch_size, fit));

  const auto N = static_cast<int64_t>(examples.size());
  auto table = at::zeros({N, C}, at::kDouble);
  const dist::DataParallel dp(ctx.comm);
  const auto batches = data::epoch_batches(examples.size(), rows, 0, 0, /*shuffle=*/false);
  int64_t done = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& idx = batches[b];
    if (!dp.takes(b)) continue;
    const auto batch = data::make_batch(examples, idx, tokenizer.pad_id());
    const auto B = static_cast<int64_t>(idx.size());
    const auto mask = batch.attention_mask.to(device);
    const auto encoded = model.encode(batch.input_ids.to(device), mask);
    const auto hidden = model.decode(decoder_in.repeat({B, 1}), encoded.repeat_interleave(C, 0),
                                     mask.repeat_interleave(C, 0));
    const auto logp = at::log_softmax(model.lm_logits(hidden).to(at::kFloat), -1);
    const auto token_ll = logp.gather(-1, targets.repeat({B, 1}).unsqueeze(-1)).squeeze(-1) * kept.repeat({B, 1});
    const auto ll = token_ll.sum(-1).view({B, C}).to(at::kDouble).cpu();
    std::vector<int64_t> where(idx.begin(), idx.end());
    table.index_copy_(0, at::tensor(where, at::kLong), ll);
    done += B;
    ctx.report({label, done, N, ""});
  }
  dp.sum_(table);  // each row is non-zero only on the process that scored it
  return table;
}

std::vector<std::string> rank_predictions(const at::Tensor& log_likelihoods, const RankCandidates& candidates) {
  const auto C = static_cast<int64_t>(candidates.texts.size());
  if (log_likelihoods.dim() != 2 || log_likelihoods.size(1) != C)
    throw ShapeError("rank decoding: a score table of " + std::to_string(C) + " candidates was expected");
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(log_likelihoods.size(0)));
  if (candidates.values.empty()) {
    const auto best = log_likelihoods.argmax(1);
    for (int64_t i = 0; i < best.size(0); ++i) out.push_back(candidates.texts[static_cast<size_t>(best[i].item<int64_t>())]);
    return out;
  }
  const auto p = at::softmax(log_likelihoods.to(at::kDouble), 1);
  const auto values = at::tensor(candidates.values, at::kDouble);
  const auto expected = (p * values.unsqueeze(0)).sum(1);
  for (int64_t i = 0; i < expected.size(0); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f", expected[i].item<double>());
    out.push_back(buf);
  }
  return out;
}

}  // namespace bipeft::eval
