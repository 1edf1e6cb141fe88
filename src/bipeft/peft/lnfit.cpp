#include "bipeft/peft/lnfit.h"

#include <ATen/ATen.h>

namespace bipeft::peft {

LnFitImpl::LnFitImpl(const model::SiteInfo& site) : PeftModule(site.name, "lnfit") {
  weight = register_parameter("weight", torch::zeros({site.out_features}));
}

torch::Tensor LnFitImpl::apply(const torch::Tensor& normed, const torch::Tensor& y) {
  if (active_rank() == 0 && !gate_.on.defined()) return y;
  return y + (gate_on(weight) * to_param_dtype(normed)).to(y.scalar_type());
}

std::vector<NamedTensor> LnFitImpl::slices(int64_t rank) const {
  if (rank == 0) return {};
  return {{"weight", weight}};
}

bool LnFitImpl::merge_into_(model::T5ModelImpl& backbone, int64_t rank) const {
  torch::NoGradGuard ng;
  auto w = backbone.named_parameters()[site_name() + ".weight"];
  if (rank > 0) w.add_(weight.to(w.scalar_type()));
  return true;
}

}  // namespace bipeft::peft

namespace bipeft::peft {

std::optional<HfPeftPart> LnFitImpl::hf_peft_part(const model::T5ModelImpl& backbone, int64_t rank) const {
  if (rank == 0) return std::nullopt;
  torch::NoGradGuard ng;
  auto norm = backbone.named_parameters()[site_name() + ".weight"];
  return HfPeftPart{"LN_TUNING", site_name(), 0, {{"ln_tuning_layers.weight", (norm + weight.to(norm.scalar_type())).detach()}}};
}

}  // namespace bipeft::peft
