#pragma once
// Module sensitivity (ALGORITHM.md §6, Eq. 1-4, decisions Q3-Q5): after the architecture step the
// validation products v = theta * grad_val, after the weight step the train products
// u = theta * grad_train (theta after the update, clipped gradient), then
//   S_i = sum|u| / n_i + mean_theta cos(u_theta, v_theta) * sum|v| / n_i,  S_bar = ema * S_bar + (1 - ema) * S_i
// for every kept module, every step until the search ends.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "bipeft/search/architecture.h"

namespace bipeft::search {

class SensitivityTracker {
 public:
  SensitivityTracker(size_t modules, double ema) : smoothed_(modules, 0.0), val_(modules), ema_(ema) {}

  /// Records v = theta * grad for every kept module (call right after the architecture backward).
  void record_validation(const std::vector<SearchModule>& modules);
  /// Computes u from the current parameters and gradients, updates S and its EMA for kept modules.
  void update_from_train(const std::vector<SearchModule>& modules);

  const std::vector<double>& smoothed() const { return smoothed_; }
  /// The last per-step sensitivities (before smoothing).
  const std::vector<double>& last() const { return last_; }
  void restore(std::vector<double> smoothed) { smoothed_ = std::move(smoothed); }

 private:
  std::vector<double> smoothed_;
  std::vector<double> last_;
  std::vector<std::vector<at::Tensor>> val_;  // per module: v per parameter tensor (undefined = no gradient)
  double ema_;
};

/// theta * grad for every parameter of `m` (undefined entries where there is no gradient).
std::vector<at::Tensor> weight_gradient_products(const peft::PeftModule& m);

}  // namespace bipeft::search
