#include "bipeft/search/gate_effect.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"

namespace bipeft::search {

GateEffectRegression::GateEffectRegression(size_t modules, double forget, double ridge)
    : n_(modules), forget_(forget), ridge_(ridge), xtx_((modules + 1) * (modules + 1), 0.0), xty_(modules + 1, 0.0) {
  if (!(forget > 0 && forget <= 1)) throw ConfigError("gate effect: the forgetting factor must be in (0, 1]");
  if (!(ridge >= 0)) throw ConfigError("gate effect: the ridge must be >= 0");
}

void GateEffectRegression::add(const std::vector<double>& on, double loss) {
  if (on.size() != n_)
    throw ConfigError("gate effect: a sample has " + std::to_string(on.size()) + " gates, the search " + std::to_string(n_));
  if (!std::isfinite(loss)) return;
  const size_t d = n_ + 1;
  std::vector<double> x(d, 1.0);
  for (size_t i = 0; i < n_; ++i) x[i + 1] = on[i];
  for (size_t r = 0; r < d; ++r) {
    xty_[r] = forget_ * xty_[r] + x[r] * loss;
    for (size_t c = 0; c < d; ++c) xtx_[r * d + c] = forget_ * xtx_[r * d + c] + x[r] * x[c];
  }
  ++samples_;
}

std::vector<double> GateEffectRegression::effects() const {
  std::vector<double> out(n_, 0.0);
  if (!ready()) return out;
  const auto d = static_cast<int64_t>(n_ + 1);
  auto a = at::tensor(xtx_, at::kDouble).view({d, d}).clone();
  auto b = at::tensor(xty_, at::kDouble).view({d, 1});
  // The ridge keeps the system solvable for modules that are always on or always off (removed).
  const double lambda = ridge_ * xtx_[0] + 1e-12;
  auto diag = a.diagonal();
  diag.narrow(0, 1, d - 1).add_(lambda);
  auto coef = at::linalg_solve(a, b).view({d}).contiguous();
  const double* c = coef.data_ptr<double>();
  for (size_t i = 0; i < n_; ++i) out[i] = std::isfinite(c[i + 1]) ? -c[i + 1] : 0.0;
  return out;
}

std::vector<at::Tensor> GateEffectRegression::state() const {
  const auto d = static_cast<int64_t>(n_ + 1);
  return {at::tensor(xtx_, at::kDouble).view({d, d}).clone(), at::tensor(xty_, at::kDouble).clone()};
}

void GateEffectRegression::restore(const std::vector<at::Tensor>& state, int64_t samples) {
  const auto d = static_cast<int64_t>(n_ + 1);
  if (state.size() != 2 || state[0].dim() != 2 || state[0].size(0) != d || state[0].size(1) != d ||
      state[1].numel() != d)
    throw ConfigError("gate effect: the saved regression does not match a search over " + std::to_string(n_) +
                      " modules; resume with the original options");
  auto a = state[0].to(at::kDouble).contiguous(), b = state[1].to(at::kDouble).contiguous();
  xtx_.assign(a.data_ptr<double>(), a.data_ptr<double>() + d * d);
  xty_.assign(b.data_ptr<double>(), b.data_ptr<double>() + d);
  samples_ = samples;
}

}  // namespace bipeft::search
