#include "bipeft/peft/lora.h"

#include <cmath>

#include <ATen/ATen.h>

#include "bipeft/peft/init.h"

namespace bipeft::peft {

LoraImpl::LoraImpl(const model::SiteInfo& site, int64_t rank_max, at::Generator& gen) : PeftModule(site.name, "lora") {
  A = register_parameter("A", torch::empty({rank_max, site.in_features}));
  B = register_parameter("B", torch::zeros({site.out_features, rank_max}));
  init_uniform_(A, kaiming_uniform_bound(site.in_features, std::sqrt(5.0)), gen);
}

torch::Tensor LoraImpl::apply(const torch::Tensor& x, const torch::Tensor& y) {
  const int64_t r = active_rank();
  if (r == 0) return y;
  auto h = at::linear(to_param_dtype(x), A.narrow(0, 0, r));
  if (auto m = rank_mask(r); m.defined()) h = h * m;
  auto delta = at::linear(up_scale(h, r), B.narrow(1, 0, r));
  return y + delta.to(y.scalar_type());
}

std::vector<NamedTensor> LoraImpl::slices(int64_t rank) const {
  if (rank == 0) return {};
  return {{"A", A.narrow(0, 0, rank)}, {"B", B.narrow(1, 0, rank)}};
}

bool LoraImpl::merge_into_(model::T5ModelImpl& backbone, int64_t rank) const {
  torch::NoGradGuard ng;
  auto w = backbone.named_parameters()[site_name() + ".weight"];
  if (rank > 0) w.add_(at::matmul(B.narrow(1, 0, rank), A.narrow(0, 0, rank)).to(w.scalar_type()));
  return true;
}

}  // namespace bipeft::peft

namespace bipeft::peft {

std::optional<HfPeftPart> LoraImpl::hf_peft_part(const model::T5ModelImpl&, int64_t rank) const {
  if (rank == 0) return std::nullopt;
  return HfPeftPart{"LORA", site_name(), rank,
                    {{"lora_A.weight", A.narrow(0, 0, rank).detach()}, {"lora_B.weight", B.narrow(1, 0, rank).detach()}}};
}

std::vector<double> LoraImpl::component_weights() const {
  torch::NoGradGuard ng;
  auto w = (A.detach().to(torch::kDouble).norm(2, {1}) * B.detach().to(torch::kDouble).norm(2, {0})).cpu().contiguous();
  return {w.data_ptr<double>(), w.data_ptr<double>() + w.numel()};
}

}  // namespace bipeft::peft
