#pragma once
// LNFit (ALGORITHM.md §3.3): y += w * x/rms(x) in parallel to a frozen T5 layer norm, w init 0;
// the same as a delta on the norm's scale, so it merges into the checkpoint (weight += w).
#include "bipeft/peft/peft_module.h"

namespace bipeft::peft {

class LnFitImpl : public PeftModule {
 public:
  explicit LnFitImpl(const model::SiteInfo& site);

  torch::Tensor apply(const torch::Tensor& normed, const torch::Tensor& y) override;
  int order() const override { return 20; }
  model::SiteKind site_kind() const override { return model::SiteKind::Norm; }
  int64_t rank_max() const override { return 1; }
  bool ranked() const override { return false; }
  int64_t param_count(int64_t rank) const override { return rank > 0 ? weight.numel() : 0; }
  std::vector<NamedTensor> slices(int64_t rank) const override;
  bool merge_into_(model::T5ModelImpl& backbone, int64_t rank) const override;
  std::optional<HfPeftPart> hf_peft_part(const model::T5ModelImpl& backbone, int64_t rank) const override;

  torch::Tensor weight;
};

}  // namespace bipeft::peft
