#include "bipeft/model/generate.h"

#include <ATen/ATen.h>

namespace bipeft::model {

torch::Tensor greedy_generate(T5ModelImpl& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                              int64_t max_new_tokens) {
  torch::NoGradGuard no_grad;
  const auto& c = model.config;
  const int64_t B = input_ids.size(0);
  auto enc = model.encode(input_ids, attention_mask);
  auto opts = input_ids.options().dtype(at::kLong);
  auto ids = at::full({B, 1}, c.decoder_start_token_id, opts);
  auto unfinished = at::ones({B}, opts);
  DecoderCache cache;
  auto last = ids;
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    auto h = model.decode(last, enc, attention_mask, &cache);
    auto logits = model.lm_logits(h.select(1, h.size(1) - 1));
    auto next = logits.argmax(-1);
    next = next * unfinished + c.pad_token_id * (1 - unfinished);
    ids = at::cat({ids, next.unsqueeze(1)}, 1);
    unfinished = unfinished * (next != c.eos_token_id).to(at::kLong);
    last = next.unsqueeze(1);
    if (unfinished.max().item<int64_t>() == 0) break;
  }
  return ids;
}

}  // namespace bipeft::model
