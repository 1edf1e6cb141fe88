#include "bipeft/peft/bottleneck_adapter.h"

#include <ATen/ATen.h>

#include "bipeft/peft/init.h"

namespace bipeft::peft {

BottleneckAdapterImpl::BottleneckAdapterImpl(const model::SiteInfo& site, AdapterPlacement placement, int64_t r,
                                             at::Generator& gen)
    : PeftModule(site.name, placement == AdapterPlacement::Serial ? "serial_adapter" : "parallel_adapter"),
      placement_(placement) {
  const int64_t d = site.out_features;
  down_weight = register_parameter("down_weight", torch::empty({r, d}));
  down_bias = register_parameter("down_bias", torch::zeros({r}));
  up_weight = register_parameter("up_weight", torch::empty({d, r}));
  up_bias = register_parameter("up_bias", torch::zeros({d}));
  init_normal_(down_weight, 0.01, gen);
  init_normal_(up_weight, 0.01, gen);
}

int64_t BottleneckAdapterImpl::param_count(int64_t r) const {
  if (r == 0) return 0;
  const int64_t d = up_weight.size(0);
  return 2 * d * r + r + d;
}

torch::Tensor BottleneckAdapterImpl::apply(const torch::Tensor& x, const torch::Tensor& y) {
  const int64_t r = active_rank();
  if (r == 0 && !gate_.on.defined()) return y;
  torch::Tensor u = gate_on(up_bias);
  if (r > 0) {
    const auto& src = placement_ == AdapterPlacement::Serial ? y : x;
    auto h = at::linear(to_param_dtype(src), down_weight.narrow(0, 0, r), down_bias.narrow(0, 0, r));
    if (auto m = rank_mask(r); m.defined()) h = h * m;
    u = at::linear(up_scale(at::gelu(h, "tanh"), r), up_weight.narrow(1, 0, r)) + u;
  }
  return y + u.to(y.scalar_type());
}

std::vector<NamedTensor> BottleneckAdapterImpl::slices(int64_t r) const {
  if (r == 0) return {};
  return {{"down_weight", down_weight.narrow(0, 0, r)},
          {"down_bias", down_bias.narrow(0, 0, r)},
          {"up_weight", up_weight.narrow(1, 0, r)},
          {"up_bias", up_bias}};
}

std::vector<double> BottleneckAdapterImpl::component_weights() const {
  torch::NoGradGuard ng;
  auto w = (down_weight.detach().to(torch::kDouble).norm(2, {1}) * up_weight.detach().to(torch::kDouble).norm(2, {0}))
               .cpu()
               .contiguous();
  return {w.data_ptr<double>(), w.data_ptr<double>() + w.numel()};
}

}  // namespace bipeft::peft
