#include "bipeft/peft/bitfit.h"

#include <ATen/ATen.h>

namespace bipeft::peft {

BitFitImpl::BitFitImpl(const model::SiteInfo& site) : PeftModule(site.name, "bitfit"), kind_(site.kind) {
  bias = register_parameter("bias", torch::zeros({site.out_features}));
}

torch::Tensor BitFitImpl::apply(const torch::Tensor&, const torch::Tensor& y) {
  if (active_rank() == 0 && !gate_.on.defined()) return y;
  return y + gate_on(bias).to(y.scalar_type());
}

std::vector<NamedTensor> BitFitImpl::slices(int64_t rank) const {
  if (rank == 0) return {};
  return {{"bias", bias}};
}

}  // namespace bipeft::peft
