#pragma once
// Low-rank adapter "Adapter-LR" (ALGORITHM.md §3.4, §0 Q10): a sequential residual adapter on a
// sublayer output whose down and up projections are both factorised at the searched rank r:
//   z = h (W1_L[:, :r] W1_R[:r, :]) + b1,  u = gelu_new(z) (W2_L[:, :r] W2_R[:r, :]) + b2,  out = h + u
// with bottleneck = d_model / reduction. Init: glorot-uniform (gain sqrt 2) on W1_L, W1_R and W2_L,
// W2_R = 0 and biases 0, so the adapter starts as the identity and every tensor receives gradients
// (the paper scripts' --zero_lr_adapter variant leaves the up projection stuck at 0). The biases are
// gated by the module's on-value.
#include <ATen/core/Generator.h>

#include "bipeft/peft/peft_module.h"

namespace bipeft::peft {

class AdapterLrImpl : public PeftModule {
 public:
  AdapterLrImpl(const model::SiteInfo& site, int64_t rank_max, int64_t bottleneck, at::Generator& gen);

  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& y) override;
  int order() const override { return 40; }
  model::SiteKind site_kind() const override { return model::SiteKind::Sublayer; }
  int64_t rank_max() const override { return down_left.size(1); }
  bool ranked() const override { return true; }
  int64_t param_count(int64_t rank) const override;
  bool zero_mask_is_absent() const override { return true; }
  std::vector<NamedTensor> slices(int64_t rank) const override;

  torch::Tensor down_left, down_right, down_bias;  // [d, r], [r, bn], [bn]
  torch::Tensor up_left, up_right, up_bias;        // [bn, r], [r, d], [d]
};

}  // namespace bipeft::peft
