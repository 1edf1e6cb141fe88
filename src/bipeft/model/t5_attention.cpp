#include "bipeft/model/t5_attention.h"

#include "bipeft/model/attention_core.h"

#include <cmath>

#include <ATen/ATen.h>

namespace bipeft::model {

T5AttentionImpl::T5AttentionImpl(const T5Config& c, bool decoder, bool relative_bias)
    : num_heads(c.num_heads),
      d_kv(c.d_kv),
      num_buckets(c.relative_attention_num_buckets),
      max_distance(c.relative_attention_max_distance),
      is_decoder(decoder),
      dropout(c.dropout_rate) {
  const int64_t inner = c.num_heads * c.d_kv;
  q = register_module("q", T5Linear(c.d_model, inner));
  k = register_module("k", T5Linear(c.d_model, inner));
  v = register_module("v", T5Linear(c.d_model, inner));
  o = register_module("o", T5Linear(inner, c.d_model));
  if (relative_bias) {
    // HF names it relative_attention_bias.weight (an nn.Embedding); a tiny holder module keeps the name.
    auto holder = register_module("relative_attention_bias", std::make_shared<torch::nn::Module>());
    relative_attention_bias =
        holder->register_parameter("weight", torch::empty({c.relative_attention_num_buckets, c.num_heads}), false);
  }
}

torch::Tensor relative_position_bucket(const torch::Tensor& relative_position, bool bidirectional,
                                       int64_t num_buckets, int64_t max_distance) {
  torch::Tensor buckets = at::zeros_like(relative_position);
  torch::Tensor rp = relative_position;
  if (bidirectional) {
    num_buckets /= 2;
    buckets = buckets + (rp > 0).to(at::kLong) * num_buckets;
    rp = rp.abs();
  } else {
    rp = -at::min(rp, at::zeros_like(rp));
  }
  const int64_t max_exact = num_buckets / 2;
  auto is_small = rp < max_exact;
  // Same float32 arithmetic as transformers, so boundary positions land in the same bucket.
  auto large = max_exact + (at::log(rp.to(at::kFloat) / max_exact) /
                            std::log(static_cast<double>(max_distance) / max_exact) * (num_buckets - max_exact))
                               .to(at::kLong);
  large = at::min(large, at::full_like(large, num_buckets - 1));
  return buckets + at::where(is_small, rp, large);
}

torch::Tensor T5AttentionImpl::compute_bias(int64_t q_len, int64_t k_len, int64_t offset) const {
  TORCH_CHECK(relative_attention_bias.defined(), "compute_bias on an attention module without a bias table");
  auto opts = at::TensorOptions().dtype(at::kLong).device(relative_attention_bias.device());
  auto context = at::arange(offset, offset + q_len, opts).unsqueeze(1);
  auto memory = at::arange(k_len, opts).unsqueeze(0);
  auto buckets = relative_position_bucket(memory - context, !is_decoder, num_buckets, max_distance);
  auto values = at::embedding(relative_attention_bias, buckets);  // [Tq, Tk, H]
  return values.permute({2, 0, 1}).unsqueeze(0);                   // [1, H, Tq, Tk]
}

torch::Tensor T5AttentionImpl::split_heads(const torch::Tensor& x) const {
  return x.view({x.size(0), x.size(1), num_heads, d_kv}).transpose(1, 2);
}

torch::Tensor T5AttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& kv,
                                       const torch::Tensor& bias, KvCache* cache) {
  const int64_t B = hidden.size(0), Tq = hidden.size(1);
  auto qs = q(hidden);  // [B, Tq, H*dk]
  torch::Tensor ks, vs;
  const bool cross = kv.defined();
  if (cross && cache != nullptr && cache->k.defined()) {
    ks = cache->k;
    vs = cache->v;
  } else {
    const auto& src = cross ? kv : hidden;
    ks = k(src);
    vs = v(src);
    if (cache != nullptr) {
      if (!cross && cache->k.defined()) {
        ks = at::cat({cache->k, ks}, 1);
        vs = at::cat({cache->v, vs}, 1);
      }
      cache->k = ks;
      cache->v = vs;
    }
  }
  auto ctx = attention_core(qs, ks, vs, bias, num_heads, is_training() ? dropout : 0.0);  // [B, Tq, H*dk]
  if (!context_site.empty()) {
    auto out = context_site.apply(split_heads(qs), split_heads(ctx));
    ctx = out.transpose(1, 2).reshape({B, Tq, num_heads * d_kv});
  }
  auto out = o(ctx);
  if (!output_site.empty()) out = output_site.apply(hidden, std::move(out));
  return out;
}

}  // namespace bipeft::model
