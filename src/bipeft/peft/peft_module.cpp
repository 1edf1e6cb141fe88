#include "bipeft/peft/peft_module.h"

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::peft {

void PeftModule::load_slices_(const std::vector<NamedTensor>& tensors) {
  torch::NoGradGuard ng;
  int64_t r = -1;
  // Find the rank whose slice shapes match the given tensors.
  for (int64_t cand = rank_max(); cand >= 0 && r < 0; --cand) {
    auto mine = slices(cand);
    if (mine.size() != tensors.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < mine.size() && ok; ++i)
      ok = mine[i].first == tensors[i].first && mine[i].second.sizes() == tensors[i].second.sizes();
    if (ok) r = cand;
  }
  if (r < 0) throw ShapeError(id() + ": tensors do not match any rank slice of this module");
  auto mine = slices(r);
  for (size_t i = 0; i < mine.size(); ++i) mine[i].second.copy_(tensors[i].second);
}

bool PeftModule::merge_into_(model::T5ModelImpl&, int64_t) const { return false; }

std::optional<HfPeftPart> PeftModule::hf_peft_part(const model::T5ModelImpl&, int64_t) const { return std::nullopt; }

torch::Tensor PeftModule::to_param_dtype(const torch::Tensor& x) const {
  auto ps = parameters(/*recurse=*/false);
  if (ps.empty() || x.scalar_type() == ps.front().scalar_type()) return x;
  return x.to(ps.front().scalar_type());
}

torch::Tensor PeftModule::rank_mask(int64_t r) const {
  if (!gate_.mask.defined()) return {};
  TORCH_CHECK(gate_.mask.size(0) >= r, id(), ": gate mask shorter than the rank slice");
  return gate_.mask.narrow(0, 0, r);
}

torch::Tensor PeftModule::up_scale(const torch::Tensor& h, int64_t r) const {
  return gate_.up.defined() ? h * gate_.up.narrow(0, 0, r) : h;
}

torch::Tensor PeftModule::gate_on(const torch::Tensor& x) const { return gate_.on.defined() ? x * gate_.on : x; }

}  // namespace bipeft::peft
