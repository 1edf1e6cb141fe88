#pragma once
// BitFit (ALGORITHM.md §3.2): a trainable bias added to the output of a linear layer or a layer
// norm, init 0. T5 layers have no bias, so it cannot be merged into a T5 checkpoint.
#include "bipeft/peft/peft_module.h"

namespace bipeft::peft {

class BitFitImpl : public PeftModule {
 public:
  explicit BitFitImpl(const model::SiteInfo& site);

  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& y) override;
  int order() const override { return 30; }
  model::SiteKind site_kind() const override { return kind_; }
  int64_t rank_max() const override { return 1; }
  bool ranked() const override { return false; }
  int64_t param_count(int64_t rank) const override { return rank > 0 ? bias.numel() : 0; }
  std::vector<NamedTensor> slices(int64_t rank) const override;

  torch::Tensor bias;

 private:
  model::SiteKind kind_;
};

}  // namespace bipeft::peft
