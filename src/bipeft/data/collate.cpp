#include "bipeft/data/collate.h"

#include <algorithm>

#include "bipeft/core/error.h"
#include "bipeft/data/splits.h"

namespace bipeft::data {

namespace {

std::vector<int64_t> encode_truncated(const text::Tokenizer& tok, const std::string& text, int64_t max_length) {
  std::vector<int64_t> ids = tok.encode(text, /*add_eos=*/false);
  if (static_cast<int64_t>(ids.size()) > max_length - 1) ids.resize(static_cast<size_t>(max_length - 1));
  if (ids.empty() || ids.back() != tok.eos_id()) ids.push_back(tok.eos_id());
  return ids;
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

}  // namespace

std::vector<TokenizedExample> tokenize_examples(const text::Tokenizer& tokenizer, const std::vector<Example>& examples,
                                                int64_t max_source_length, int64_t max_target_length) {
  if (max_source_length < 1 || max_target_length < 1)
    throw ConfigError("max source/target length must be at least 1, got " + std::to_string(max_source_length) + "/" +
                      std::to_string(max_target_length));
  std::vector<TokenizedExample> out;
  out.reserve(examples.size());
  for (const auto& e : examples)
    out.push_back({encode_truncated(tokenizer, e.source, max_source_length),
                   encode_truncated(tokenizer, e.target, max_target_length)});
  return out;
}

Batch make_batch(const std::vector<TokenizedExample>& all, const std::vector<size_t>& indices, int64_t pad_id) {
  if (indices.empty()) throw ConfigError("make_batch: empty batch");
  int64_t src_len = 1, tgt_len = 1;
  for (size_t i : indices) {
    if (i >= all.size())
      throw ConfigError("make_batch: index " + std::to_string(i) + " out of range (" + std::to_string(all.size()) +
                        " examples)");
    src_len = std::max<int64_t>(src_len, static_cast<int64_t>(all[i].source_ids.size()));
    tgt_len = std::max<int64_t>(tgt_len, static_cast<int64_t>(all[i].target_ids.size()));
  }
  src_len = round_up(src_len, kPadMultiple);
  tgt_len = round_up(tgt_len, kPadMultiple);
  const auto b = static_cast<int64_t>(indices.size());
  Batch batch;
  batch.input_ids = torch::full({b, src_len}, pad_id, torch::kLong);
  batch.attention_mask = torch::zeros({b, src_len}, torch::kLong);
  batch.labels = torch::full({b, tgt_len}, kLabelPad, torch::kLong);
  auto* ids = batch.input_ids.data_ptr<int64_t>();
  auto* mask = batch.attention_mask.data_ptr<int64_t>();
  auto* labels = batch.labels.data_ptr<int64_t>();
  for (int64_t r = 0; r < b; ++r) {
    const auto& ex = all[indices[static_cast<size_t>(r)]];
    std::copy(ex.source_ids.begin(), ex.source_ids.end(), ids + r * src_len);
    std::fill(mask + r * src_len, mask + r * src_len + static_cast<int64_t>(ex.source_ids.size()), int64_t{1});
    std::copy(ex.target_ids.begin(), ex.target_ids.end(), labels + r * tgt_len);
  }
  batch.indices = indices;
  return batch;
}

std::vector<std::vector<size_t>> epoch_batches(size_t n, int64_t batch_size, uint64_t seed, int64_t epoch,
                                               bool shuffle) {
  if (batch_size < 1) throw ConfigError("batch size must be at least 1, got " + std::to_string(batch_size));
  std::vector<size_t> order(n);
  if (shuffle) {
    const auto perm = seeded_permutation(static_cast<int64_t>(n), derive_seed(seed, static_cast<uint64_t>(epoch)));
    for (size_t i = 0; i < n; ++i) order[i] = static_cast<size_t>(perm[i]);
  } else {
    for (size_t i = 0; i < n; ++i) order[i] = i;
  }
  std::vector<std::vector<size_t>> batches;
  const auto bs = static_cast<size_t>(batch_size);
  for (size_t start = 0; start < n; start += bs)
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(n, start + bs)));
  return batches;
}

int64_t max_target_length(const text::Tokenizer& tokenizer, const TaskData& task) {
  if (!task.labels.empty()) {
    int64_t longest = 1;
    for (const auto& l : task.labels)
      longest = std::max<int64_t>(longest, static_cast<int64_t>(tokenizer.encode(l).size()));
    return longest;
  }
  if (!task.is_regression) return 128;
  int64_t longest = 1;
  for (const auto* split : {&task.train, &task.dev, &task.test})
    for (const auto& e : *split)
      longest = std::max<int64_t>(longest, static_cast<int64_t>(tokenizer.encode(e.target).size()));
  return longest;
}

}  // namespace bipeft::data
