#pragma once
// Greedy decoding with a key/value cache, with transformers' conventions: the output starts with the
// decoder start token; rows that emitted EOS are padded afterwards; decoding stops when every row
// has finished or after max_new_tokens.
#include <torch/types.h>

#include "bipeft/model/t5_model.h"

namespace bipeft::model {

/// Greedy ids [B, 1 + n] (n <= max_new_tokens). Runs without gradients.
torch::Tensor greedy_generate(T5ModelImpl& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                              int64_t max_new_tokens);

}  // namespace bipeft::model
