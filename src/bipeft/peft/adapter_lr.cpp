#include "bipeft/peft/adapter_lr.h"

#include <cmath>

#include <ATen/ATen.h>

#include "bipeft/peft/init.h"

namespace bipeft::peft {

AdapterLrImpl::AdapterLrImpl(const model::SiteInfo& site, int64_t r, int64_t bn, at::Generator& gen)
    : PeftModule(site.name, "adapter_lr") {
  const int64_t d = site.out_features;
  down_left = register_parameter("down_left", torch::empty({d, r}));
  down_right = register_parameter("down_right", torch::empty({r, bn}));
  down_bias = register_parameter("down_bias", torch::zeros({bn}));
  up_left = register_parameter("up_left", torch::empty({bn, r}));
  up_right = register_parameter("up_right", torch::zeros({r, d}));
  up_bias = register_parameter("up_bias", torch::zeros({d}));
  const double gain = std::sqrt(2.0);
  init_uniform_(down_left, glorot_uniform_bound(d, r, gain), gen);
  init_uniform_(down_right, glorot_uniform_bound(r, bn, gain), gen);
  init_uniform_(up_left, glorot_uniform_bound(bn, r, gain), gen);
}

int64_t AdapterLrImpl::param_count(int64_t r) const {
  if (r == 0) return 0;
  const int64_t d = down_left.size(0), bn = down_right.size(1);
  return 2 * r * (d + bn) + bn + d;
}

torch::Tensor AdapterLrImpl::apply(const torch::Tensor&, const torch::Tensor& y) {
  const int64_t r = active_rank();
  if (r == 0 && !gate_.on.defined()) return y;
  auto h = to_param_dtype(y);
  torch::Tensor u = gate_on(up_bias);
  if (r > 0) {
    auto t = at::matmul(h, down_left.narrow(1, 0, r));
    if (auto m = rank_mask(r); m.defined()) t = t * m;
    auto z = at::matmul(t, down_right.narrow(0, 0, r)) + gate_on(down_bias);
    auto g = at::matmul(at::gelu(z, "tanh"), up_left.narrow(1, 0, r));
    if (const int64_t e = effective_rank(); e < r) {
      // A longer slice behind a 0/1 mask (the dimension stage): the up side's components above the
      // masked rank must not act either, so that the module acts exactly at rank e.
      auto keep = at::zeros({r}, g.options());
      keep.narrow(0, 0, e).fill_(1.0);
      g = g * keep;
    }
    u = at::matmul(up_scale(g, r), up_right.narrow(0, 0, r)) + u;
  }
  return y + u.to(y.scalar_type());
}

std::vector<NamedTensor> AdapterLrImpl::slices(int64_t r) const {
  if (r == 0) return {};
  return {{"down_left", down_left.narrow(1, 0, r)}, {"down_right", down_right.narrow(0, 0, r)},
          {"down_bias", down_bias},                  {"up_left", up_left.narrow(1, 0, r)},
          {"up_right", up_right.narrow(0, 0, r)},    {"up_bias", up_bias}};
}

}  // namespace bipeft::peft
