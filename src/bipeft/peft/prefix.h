#pragma once
// Prefix tuning in self-attention (ALGORITHM.md §3.6, §0 Q12-Q14). A shared generator makes the
// prefix rows P = relu(E W_d^T + b_d) (E [L, d], W_d [mid, d]); each layer maps them with its own
// up-projection (W [2d, mid], b [2d]) to keys and values, passes those through the layer's frozen k
// and v projections, and adds gate * softmax(q k_p^T) v_p to the attention context, with a separate
// softmax over the first r slots only (the masked slots get -inf scores). The per-layer scalar gate
// starts at 0, so an untrained prefix leaves the model unchanged. The prefix length r is the
// searched dimension; the parameter count does not depend on it.
#include <memory>

#include <ATen/core/Generator.h>

#include "bipeft/peft/peft_module.h"

namespace bipeft::peft {

/// The parameters shared by every prefix module of a model; always kept, never pruned.
class PrefixSharedImpl : public PeftModule {
 public:
  PrefixSharedImpl(int64_t length, int64_t d_model, int64_t mid, at::Generator& gen);

  /// P = relu(E W_d^T + b_d), [length, mid].
  torch::Tensor rows() const;
  torch::Tensor apply(const torch::Tensor&, const torch::Tensor& y) override { return y; }
  int order() const override { return 0; }
  model::SiteKind site_kind() const override { return model::SiteKind::Attention; }
  int64_t rank_max() const override { return embedding.size(0); }
  bool ranked() const override { return false; }
  bool prunable() const override { return false; }
  int64_t param_count(int64_t rank) const override;
  std::vector<NamedTensor> slices(int64_t rank) const override;

  torch::Tensor embedding, down_weight, down_bias;  // [L, d], [mid, d], [mid]
};

class PrefixImpl : public PeftModule {
 public:
  PrefixImpl(const model::SiteInfo& site, std::shared_ptr<PrefixSharedImpl> shared, int64_t length_max,
             at::Generator& gen);

  /// `q`: query heads [B, H, Tq, d_kv]; `ctx`: attention context heads; returns ctx + prefix context.
  torch::Tensor apply(const torch::Tensor& q, const torch::Tensor& ctx) override;
  int order() const override { return 70; }
  model::SiteKind site_kind() const override { return model::SiteKind::Attention; }
  int64_t rank_max() const override { return length_max_; }
  bool ranked() const override { return true; }
  int64_t param_count(int64_t rank) const override;
  std::vector<NamedTensor> slices(int64_t rank) const override;

  torch::Tensor up_weight, up_bias, gate;  // [2d, mid], [2d], [1]

 private:
  std::shared_ptr<PrefixSharedImpl> shared_;
  model::T5AttentionImpl* attention_;
  int64_t length_max_;
};

}  // namespace bipeft::peft
