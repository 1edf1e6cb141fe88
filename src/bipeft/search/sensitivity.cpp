#include "bipeft/search/sensitivity.h"

#include <cmath>

#include <ATen/ATen.h>

namespace bipeft::search {

std::vector<at::Tensor> weight_gradient_products(const peft::PeftModule& m) {
  std::vector<at::Tensor> out;
  for (const auto& p : m.parameters()) {
    const auto& g = p.grad();
    out.push_back(g.defined() ? (p.detach() * g).flatten() : at::Tensor());
  }
  return out;
}

void SensitivityTracker::record_validation(const std::vector<SearchModule>& modules) {
  for (size_t i = 0; i < modules.size(); ++i) {
    val_[i].clear();
    if (!modules[i].removed) val_[i] = weight_gradient_products(*modules[i].module);
  }
}

void SensitivityTracker::update_from_train(const std::vector<SearchModule>& modules) {
  last_.assign(modules.size(), 0.0);
  // Per parameter tensor: [sum|u|, sum|v|, u.v, |u|^2, |v|^2], gathered for every kept module and
  // copied to the host once (one synchronisation per step, also on GPUs).
  std::vector<at::Tensor> stats;
  std::vector<std::pair<size_t, size_t>> span(modules.size(), {0, 0});  // module -> [first, count) in stats
  for (size_t i = 0; i < modules.size(); ++i) {
    if (modules[i].removed) continue;
    auto u = weight_gradient_products(*modules[i].module);
    span[i] = {stats.size(), u.size()};
    for (size_t k = 0; k < u.size(); ++k) {
      const bool has_v = k < val_[i].size() && val_[i][k].defined();
      if (!u[k].defined() && !has_v) {
        stats.push_back(at::zeros({5}, modules[i].module->parameters().front().options().dtype(at::kDouble)));
        continue;
      }
      const auto& ref = u[k].defined() ? u[k] : val_[i][k];
      auto uu = u[k].defined() ? u[k].to(at::kDouble) : at::zeros_like(ref, at::kDouble);
      auto vv = has_v ? val_[i][k].to(at::kDouble) : at::zeros_like(ref, at::kDouble);
      stats.push_back(at::stack({uu.abs().sum(), vv.abs().sum(), (uu * vv).sum(), (uu * uu).sum(), (vv * vv).sum()}));
    }
  }
  for (auto& v : val_) v.clear();
  if (stats.empty()) return;
  auto host = at::stack(stats).cpu().contiguous();  // [tensors, 5]
  const double* h = host.data_ptr<double>();
  for (size_t i = 0; i < modules.size(); ++i) {
    if (modules[i].removed) continue;
    double tr = 0, va = 0, cos_sum = 0;
    const auto [first, count] = span[i];
    for (size_t k = first; k < first + count; ++k) {
      const double* r = h + 5 * k;
      tr += r[0];
      va += r[1];
      if (r[3] > 0 && r[4] > 0) cos_sum += r[2] / std::sqrt(r[3] * r[4]);
    }
    const double cos = count > 0 ? cos_sum / static_cast<double>(count) : 0.0;
    const double n = modules[i].full > 0 ? modules[i].full : 1.0;
    const double s = tr / n + cos * va / n;
    last_[i] = std::isfinite(s) ? s : 0.0;
    smoothed_[i] = ema_ * smoothed_[i] + (1.0 - ema_) * last_[i];
  }
}

}  // namespace bipeft::search
