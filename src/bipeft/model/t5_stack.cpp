#include "bipeft/model/t5_stack.h"

#include <limits>

#include <ATen/ATen.h>

namespace bipeft::model {

namespace {

// torch.finfo(dtype).min, the value transformers adds at masked positions.
double dtype_min(c10::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf: return -65504.0;
    case at::kBFloat16: return -3.3895313892515355e38;
    case at::kDouble: return std::numeric_limits<double>::lowest();
    default: return std::numeric_limits<float>::lowest();
  }
}

}  // namespace

torch::Tensor extended_mask(const torch::Tensor& mask, c10::ScalarType dtype) {
  return (1.0 - mask.to(dtype).unsqueeze(1).unsqueeze(1)) * dtype_min(dtype);
}

T5StackImpl::T5StackImpl(const T5Config& c, bool decoder) : is_decoder(decoder), dropout(c.dropout_rate) {
  block = register_module("block", torch::nn::ModuleList());
  const int64_t n = decoder ? c.num_decoder_layers : c.num_layers;
  for (int64_t i = 0; i < n; ++i) {
    blocks.push_back(T5Block(c, decoder, /*relative_bias=*/i == 0));
    block->push_back(blocks.back());
  }
  final_layer_norm = register_module("final_layer_norm", T5LayerNorm(c.d_model, c.layer_norm_epsilon));
}

torch::Tensor T5StackImpl::forward(const torch::Tensor& embeds, const torch::Tensor& mask,
                                   const torch::Tensor& encoder_hidden, const torch::Tensor& encoder_mask,
                                   DecoderCache* cache) {
  const auto dtype = embeds.scalar_type();
  const int64_t Tq = embeds.size(1);
  const int64_t offset = cache ? cache->length : 0;
  const int64_t Tk = offset + Tq;
  auto& attn0 = *blocks.front()->self_attention->SelfAttention;
  torch::Tensor self_bias = attn0.compute_bias(Tq, Tk, offset).to(dtype);
  if (is_decoder) {
    // Causal: query i (absolute offset+i) sees keys 0..offset+i.
    auto opts = at::TensorOptions().device(embeds.device()).dtype(at::kLong);
    auto qpos = at::arange(offset, Tk, opts).unsqueeze(1);
    auto kpos = at::arange(Tk, opts).unsqueeze(0);
    auto causal = (kpos <= qpos).to(dtype).unsqueeze(0).unsqueeze(0);  // [1, 1, Tq, Tk]
    torch::Tensor full = causal;
    if (mask.defined()) full = causal * mask.to(dtype).unsqueeze(1).unsqueeze(1);
    self_bias = self_bias + (1.0 - full) * dtype_min(dtype);
  } else if (mask.defined()) {
    self_bias = self_bias + extended_mask(mask, dtype);
  }
  torch::Tensor cross_bias;
  if (is_decoder && encoder_mask.defined()) cross_bias = extended_mask(encoder_mask, dtype);
  if (cache && cache->blocks.size() != blocks.size()) cache->blocks.resize(blocks.size());

  torch::Tensor h = dropout > 0 && is_training() ? at::dropout(embeds, dropout, true) : embeds;
  for (size_t i = 0; i < blocks.size(); ++i)
    h = blocks[i]->forward(h, self_bias, encoder_hidden, cross_bias, cache ? &cache->blocks[i] : nullptr);
  h = final_layer_norm(h);
  if (dropout > 0 && is_training()) h = at::dropout(h, dropout, true);
  if (cache) cache->length = Tk;
  return h;
}

}  // namespace bipeft::model
