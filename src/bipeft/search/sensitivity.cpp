#include "bipeft/search/sensitivity.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::search {


double step_sensitivity(Criterion c, double t, double v, double cosine, double n_t, double n_v) {
  const double tn = t / (n_t > 0 ? n_t : 1.0), vn = v / (n_v > 0 ? n_v : 1.0);
  switch (c) {
    case Criterion::Train: return tn;
    case Criterion::Validation: return vn;
    case Criterion::TrainVal: return tn + vn;
    case Criterion::TrainValCos1: return tn + cosine * vn;
    case Criterion::TrainValCos2: return cosine * (tn + vn);
    case Criterion::GateEffect: return tn;  // the record is the fitted effect
  }
  return 0.0;
}

double active_params(const peft::PeftModule& m) { return static_cast<double>(m.param_count(m.effective_rank())); }

std::vector<at::Tensor> weight_gradient_products(const peft::PeftModule& m) {
  std::vector<at::Tensor> out;
  for (const auto& p : m.parameters()) {
    const auto& g = p.grad();
    out.push_back(g.defined() ? (p.detach() * g).flatten() : at::Tensor());
  }
  return out;
}

SensitivityTracker::SensitivityTracker(size_t modules, SensitivityOptions options)
    : smoothed_(modules, 0.0), spread_(modules, 0.0), val_(modules), val_n_(modules, 0.0), o_(options) {
  if (o_.snr && o_.criterion == Criterion::GateEffect)
    throw ConfigError("sensitivity: the signal-to-noise score (snr) needs a product criterion, not gate_effect");
  if (o_.criterion == Criterion::GateEffect) {
    // Memory of about max(100, 4 (N + 1)) samples: enough to fit N effects, short enough to follow
    // the weights as they train.
    const double memory = std::max(100.0, 4.0 * static_cast<double>(modules + 1));
    regression_ = std::make_unique<GateEffectRegression>(modules, 1.0 - 1.0 / memory);
  }
}

void SensitivityTracker::record_sample(const std::vector<double>& on, double loss) {
  if (regression_) regression_->add(on, loss);
}

void SensitivityTracker::record_validation(const std::vector<SearchModule>& modules) {
  if (regression_) return;
  for (size_t i = 0; i < modules.size(); ++i) {
    val_[i].clear();
    val_n_[i] = 0;
    if (modules[i].removed) continue;
    val_[i] = weight_gradient_products(*modules[i].module);
    val_n_[i] = active_params(*modules[i].module);
  }
}

void SensitivityTracker::update_from_train(const std::vector<SearchModule>& modules) {
  last_.assign(modules.size(), 0.0);
  if (regression_) {
    // The forgetting factor already smooths the fit; S_bar is the current effect per parameter.
    const auto effects = regression_->effects();
    for (size_t i = 0; i < modules.size(); ++i) {
      if (modules[i].removed) continue;
      last_[i] = step_sensitivity(Criterion::GateEffect, effects[i], 0.0, 0.0, modules[i].full, 1.0);
      smoothed_[i] = last_[i];
    }
    return;
  }
  // Per parameter tensor: [sum|u|, sum|v|, u.v, |u|^2, |v|^2, sum u, sum v], gathered for every kept module and
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
        stats.push_back(at::zeros({7}, modules[i].module->parameters().front().options().dtype(at::kDouble)));
        continue;
      }
      const auto& ref = u[k].defined() ? u[k] : val_[i][k];
      auto uu = u[k].defined() ? u[k].to(at::kDouble) : at::zeros_like(ref, at::kDouble);
      auto vv = has_v ? val_[i][k].to(at::kDouble) : at::zeros_like(ref, at::kDouble);
      stats.push_back(at::stack({uu.abs().sum(), vv.abs().sum(), (uu * vv).sum(), (uu * uu).sum(), (vv * vv).sum(),
                                 uu.sum(), vv.sum()}));
    }
  }
  for (auto& v : val_) v.clear();
  if (stats.empty()) return;
  auto host = at::stack(stats).cpu().contiguous();  // [tensors, 7]
  const double* h = host.data_ptr<double>();
  for (size_t i = 0; i < modules.size(); ++i) {
    if (modules[i].removed) continue;
    double tr = 0, va = 0, cos_sum = 0;
    const auto [first, count] = span[i];
    for (size_t k = first; k < first + count; ++k) {
      const double* r = h + 7 * k;
      tr += o_.abs_grad ? r[0] : -r[5];
      va += o_.abs_grad ? r[1] : -r[6];
      if (r[3] > 0 && r[4] > 0) cos_sum += r[2] / std::sqrt(r[3] * r[4]);
    }
    const double cos = count > 0 ? cos_sum / static_cast<double>(count) : 0.0;
    // Each record per parameter that took part in its step (the slice at the module's active rank):
    // theta * grad is zero outside it, so dividing by the max-rank count would rank a module by the
    // rank it happened to run at.
    const double s = step_sensitivity(o_.criterion, tr, va, cos, active_params(*modules[i].module), val_n_[i]);
    last_[i] = std::isfinite(s) ? s : 0.0;
    smoothed_[i] = o_.ema * smoothed_[i] + (1.0 - o_.ema) * last_[i];
    if (o_.snr) spread_[i] = o_.ema * spread_[i] + (1.0 - o_.ema) * std::abs(last_[i] - smoothed_[i]);
  }
}

std::vector<double> SensitivityTracker::scores() const {
  if (!o_.snr) return smoothed_;
  std::vector<double> out(smoothed_.size(), 0.0);
  for (size_t i = 0; i < out.size(); ++i)
    if (spread_[i] > 0) out[i] = smoothed_[i] / spread_[i];
  return out;
}

void SensitivityTracker::restore(std::vector<double> smoothed, std::vector<double> spread) {
  if (spread.empty()) spread.assign(smoothed.size(), 0.0);
  if (smoothed.size() != smoothed_.size() || spread.size() != smoothed_.size())
    throw ConfigError("search state: sensitivities for " + std::to_string(smoothed.size()) + " modules (spread " +
                      std::to_string(spread.size()) + ") where the search has " + std::to_string(smoothed_.size()) +
                      "; resume with the original options");
  smoothed_ = std::move(smoothed);
  spread_ = std::move(spread);
}

}  // namespace bipeft::search
