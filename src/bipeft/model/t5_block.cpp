#include "bipeft/model/t5_block.h"

#include <ATen/ATen.h>

namespace bipeft::model {

namespace {

torch::Tensor drop(const torch::Tensor& x, double p, bool training) {
  return p > 0 && training ? at::dropout(x, p, true) : x;
}

// transformers clamps fp16 activations to avoid inf; keep the same behaviour.
torch::Tensor clamp_half(torch::Tensor h) {
  if (h.scalar_type() != at::kHalf) return h;
  const double clamp_value = 65504.0 - 1000.0;
  if (at::isinf(h).any().item<bool>()) return at::clamp(h, -clamp_value, clamp_value);
  return h;
}

}  // namespace

T5LayerSelfAttentionImpl::T5LayerSelfAttentionImpl(const T5Config& c, bool is_decoder, bool relative_bias)
    : dropout(c.dropout_rate) {
  SelfAttention = register_module("SelfAttention", T5Attention(c, is_decoder, relative_bias));
  layer_norm = register_module("layer_norm", T5LayerNorm(c.d_model, c.layer_norm_epsilon));
}

torch::Tensor T5LayerSelfAttentionImpl::forward(const torch::Tensor& h, const torch::Tensor& bias, KvCache* cache) {
  auto attn = SelfAttention(layer_norm(h), torch::Tensor(), bias, cache);
  return h + drop(attn, dropout, is_training());
}

T5LayerCrossAttentionImpl::T5LayerCrossAttentionImpl(const T5Config& c) : dropout(c.dropout_rate) {
  EncDecAttention = register_module("EncDecAttention", T5Attention(c, /*is_decoder=*/true, /*relative_bias=*/false));
  layer_norm = register_module("layer_norm", T5LayerNorm(c.d_model, c.layer_norm_epsilon));
}

torch::Tensor T5LayerCrossAttentionImpl::forward(const torch::Tensor& h, const torch::Tensor& encoder_hidden,
                                                 const torch::Tensor& bias, KvCache* cache) {
  auto attn = EncDecAttention(layer_norm(h), encoder_hidden, bias, cache);
  return h + drop(attn, dropout, is_training());
}

T5LayerFFImpl::T5LayerFFImpl(const T5Config& c) : dropout(c.dropout_rate) {
  DenseReluDense = register_module("DenseReluDense", T5Dense(c));
  layer_norm = register_module("layer_norm", T5LayerNorm(c.d_model, c.layer_norm_epsilon));
}

torch::Tensor T5LayerFFImpl::forward(const torch::Tensor& h) {
  return h + drop(DenseReluDense(layer_norm(h)), dropout, is_training());
}

T5BlockImpl::T5BlockImpl(const T5Config& c, bool is_decoder, bool relative_bias) {
  layer = register_module("layer", torch::nn::ModuleList());
  self_attention = T5LayerSelfAttention(c, is_decoder, relative_bias);
  layer->push_back(self_attention);
  if (is_decoder) {
    cross_attention = T5LayerCrossAttention(c);
    layer->push_back(cross_attention);
  }
  ff = T5LayerFF(c);
  layer->push_back(ff);
}

torch::Tensor T5BlockImpl::forward(const torch::Tensor& h, const torch::Tensor& self_bias,
                                   const torch::Tensor& encoder_hidden, const torch::Tensor& cross_bias,
                                   BlockCache* cache) {
  auto x = clamp_half(self_attention(h, self_bias, cache ? &cache->self_attn : nullptr));
  if (cross_attention) x = clamp_half(cross_attention(x, encoder_hidden, cross_bias, cache ? &cache->cross_attn : nullptr));
  return clamp_half(ff(x));
}

}  // namespace bipeft::model
