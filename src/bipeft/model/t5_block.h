#pragma once
// One T5 block: self-attention sublayer, (decoder) cross-attention sublayer, feed-forward sublayer,
// each pre-normed with a residual add, named as Hugging Face names them (layer.0, layer.1, layer.2).
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "bipeft/model/t5_attention.h"
#include "bipeft/model/t5_layers.h"

namespace bipeft::model {

class T5LayerSelfAttentionImpl : public torch::nn::Module {
 public:
  T5LayerSelfAttentionImpl(const T5Config& c, bool is_decoder, bool relative_bias);
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& bias, KvCache* cache);
  T5Attention SelfAttention{nullptr};
  T5LayerNorm layer_norm{nullptr};
  double dropout;
};
TORCH_MODULE(T5LayerSelfAttention);

class T5LayerCrossAttentionImpl : public torch::nn::Module {
 public:
  explicit T5LayerCrossAttentionImpl(const T5Config& c);
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& encoder_hidden, const torch::Tensor& bias,
                        KvCache* cache);
  T5Attention EncDecAttention{nullptr};
  T5LayerNorm layer_norm{nullptr};
  double dropout;
};
TORCH_MODULE(T5LayerCrossAttention);

class T5LayerFFImpl : public torch::nn::Module {
 public:
  explicit T5LayerFFImpl(const T5Config& c);
  torch::Tensor forward(const torch::Tensor& h);
  T5Dense DenseReluDense{nullptr};
  T5LayerNorm layer_norm{nullptr};
  double dropout;
};
TORCH_MODULE(T5LayerFF);

/// Caches of one decoder block during generation.
struct BlockCache {
  KvCache self_attn, cross_attn;
};

class T5BlockImpl : public torch::nn::Module {
 public:
  T5BlockImpl(const T5Config& c, bool is_decoder, bool relative_bias);
  /// `self_bias`: position bias + mask for self-attention; `cross_bias`: encoder mask (decoder only).
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& self_bias, const torch::Tensor& encoder_hidden,
                        const torch::Tensor& cross_bias, BlockCache* cache);

  torch::nn::ModuleList layer;  // HF naming: layer.0 self-attn, layer.1 cross-attn (decoder), last FFN
  T5LayerSelfAttention self_attention{nullptr};
  T5LayerCrossAttention cross_attention{nullptr};  // null in the encoder
  T5LayerFF ff{nullptr};
};
TORCH_MODULE(T5Block);

}  // namespace bipeft::model
