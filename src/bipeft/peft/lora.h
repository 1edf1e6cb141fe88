#pragma once
// LoRA (ALGORITHM.md §3.1): y += x A[:r]^T B[:, :r]^T, A [r_max, in] kaiming-uniform(sqrt 5),
// B [out, r_max] zero, no alpha/r scaling, no dropout. Attaches to a linear layer.
#include <ATen/core/Generator.h>

#include "bipeft/peft/peft_module.h"

namespace bipeft::peft {

class LoraImpl : public PeftModule {
 public:
  LoraImpl(const model::SiteInfo& site, int64_t rank_max, at::Generator& gen);

  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& y) override;
  int order() const override { return 10; }
  model::SiteKind site_kind() const override { return model::SiteKind::Linear; }
  int64_t rank_max() const override { return A.size(0); }
  bool ranked() const override { return true; }
  int64_t param_count(int64_t rank) const override { return rank * (A.size(1) + B.size(0)); }
  bool zero_mask_is_absent() const override { return true; }
  std::vector<double> component_weights() const override;
  std::vector<NamedTensor> slices(int64_t rank) const override;
  bool merge_into_(model::T5ModelImpl& backbone, int64_t rank) const override;
  std::optional<HfPeftPart> hf_peft_part(const model::T5ModelImpl& backbone, int64_t rank) const override;

  torch::Tensor A, B;
};

}  // namespace bipeft::peft
