#pragma once
// Tokenization with truncation, dynamic padding to a multiple of 8 and epoch batching (ALGORITHM.md
// §11.2). Tensors are int64 on the CPU; the trainer moves them to its device.
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "bipeft/data/example.h"
#include "bipeft/data/task.h"
#include "bipeft/text/tokenizer.h"

namespace bipeft::data {

/// Sequence lengths are padded up to a multiple of this (HF pad_to_multiple_of=8).
constexpr int64_t kPadMultiple = 8;
/// Label value ignored by the loss.
constexpr int64_t kLabelPad = -100;

struct TokenizedExample {
  std::vector<int64_t> source_ids, target_ids;  // both end with EOS
};

/// Tokenizes with truncation to the max lengths; EOS stays the last token after truncation, as HF
/// truncation with add_special_tokens does. Throws ConfigError when a max length is below 1.
std::vector<TokenizedExample> tokenize_examples(const text::Tokenizer& tokenizer, const std::vector<Example>& examples,
                                                int64_t max_source_length, int64_t max_target_length);

struct Batch {
  torch::Tensor input_ids;       // [B, S] int64, padded with pad_id
  torch::Tensor attention_mask;  // [B, S] int64, 1 on tokens, 0 on padding
  torch::Tensor labels;          // [B, T] int64, padded with -100
  std::vector<size_t> indices;   // positions of the rows in the tokenized list
};

/// Stacks `all[indices]` into padded tensors (S, T = longest length rounded up to a multiple of 8).
/// Throws ConfigError for an empty or out-of-range index list.
Batch make_batch(const std::vector<TokenizedExample>& all, const std::vector<size_t>& indices, int64_t pad_id);

/// Indices of each batch of one epoch: shuffled with a generator seeded by derive_seed(seed, epoch)
/// when `shuffle`, else in order; the last partial batch is kept. Throws ConfigError if batch_size < 1.
std::vector<std::vector<size_t>> epoch_batches(size_t n, int64_t batch_size, uint64_t seed, int64_t epoch, bool shuffle);

/// Exact target length budget of `task` (§11.2): the longest tokenized label (+EOS); for regression the
/// longest tokenized target in train/dev/test; 128 for free text (ReCoRD).
int64_t max_target_length(const text::Tokenizer& tokenizer, const TaskData& task);

}  // namespace bipeft::data
