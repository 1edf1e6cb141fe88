#pragma once
// T5 multi-head attention: no 1/sqrt(d_kv) scaling, an additive bias (relative positions and/or the
// mask, computed once per stack), softmax in float32, optional key/value cache for decoding.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "bipeft/model/site.h"
#include "bipeft/model/t5_config.h"
#include "bipeft/model/t5_layers.h"

namespace bipeft::model {

/// Cached keys and values of one attention module ([B, T, H*d_kv] each); undefined until filled.
struct KvCache {
  torch::Tensor k, v;
};

class T5AttentionImpl : public torch::nn::Module {
 public:
  /// `relative_bias`: this module owns the relative position table (block 0 of each stack).
  T5AttentionImpl(const T5Config& config, bool is_decoder, bool relative_bias);

  /// Attention of `hidden` [B, Tq, d_model] over itself (kv = undefined) or over `kv` [B, Tk, d_model].
  /// `bias` is added to the scores (broadcast to [B, H, Tq, Tk]). With `cache`: self-attention appends
  /// the new keys/values to it; cross-attention fills it once and reuses it.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& kv, const torch::Tensor& bias,
                        KvCache* cache = nullptr);

  /// The relative position bias [1, H, Tq, Tk] for queries at positions offset..offset+Tq-1.
  torch::Tensor compute_bias(int64_t q_len, int64_t k_len, int64_t offset = 0) const;

  /// Splits [B, T, H*d_kv] into heads [B, H, T, d_kv].
  torch::Tensor split_heads(const torch::Tensor& x) const;

  T5Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  torch::Tensor relative_attention_bias;  // [num_buckets, H] if this module owns it
  Site context_site;  // SiteKind::Attention: (query heads, context heads) before the output projection
  Site output_site;   // SiteKind::Sublayer: (normed input, attention output)
  int64_t num_heads, d_kv, num_buckets, max_distance;
  bool is_decoder;
  double dropout;
};
TORCH_MODULE(T5Attention);

/// T5's bucketing of relative positions (memory - query), as transformers computes it.
torch::Tensor relative_position_bucket(const torch::Tensor& relative_position, bool bidirectional,
                                       int64_t num_buckets, int64_t max_distance);

}  // namespace bipeft::model
