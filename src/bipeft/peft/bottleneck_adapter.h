#pragma once
// Serial (SA) and parallel (PA) bottleneck adapters (ALGORITHM.md §3.5): down Linear(d -> r, bias),
// gelu_new, up Linear(r -> d, bias), weights N(0, 0.01^2), biases 0. The serial adapter reads the
// sublayer output, the parallel one the sublayer's (normed) input; both add to the output. Rank r
// uses down.weight[:r], down.bias[:r], up.weight[:, :r]; the up bias is gated by the on-value (§0 Q14).
#include <ATen/core/Generator.h>

#include "bipeft/peft/peft_module.h"

namespace bipeft::peft {

enum class AdapterPlacement { Serial, Parallel };

class BottleneckAdapterImpl : public PeftModule {
 public:
  BottleneckAdapterImpl(const model::SiteInfo& site, AdapterPlacement placement, int64_t rank_max, at::Generator& gen);

  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& y) override;
  int order() const override { return placement_ == AdapterPlacement::Serial ? 50 : 60; }
  model::SiteKind site_kind() const override { return model::SiteKind::Sublayer; }
  int64_t rank_max() const override { return down_weight.size(0); }
  bool ranked() const override { return true; }
  int64_t param_count(int64_t rank) const override;
  bool zero_mask_is_absent() const override { return true; }
  std::vector<double> component_weights() const override;
  std::vector<NamedTensor> slices(int64_t rank) const override;

  torch::Tensor down_weight, down_bias, up_weight, up_bias;  // [r, d], [r], [d, r], [d]

 private:
  AdapterPlacement placement_;
};

}  // namespace bipeft::peft
