#pragma once
// Module sensitivity (ALGORITHM.md §6, Eq. 1-4, decisions Q3-Q5): after the architecture step the
// validation products v = theta * grad_val, after the weight step the train products
// u = theta * grad_train (theta after the update, clipped gradient), then with the default criterion
// (tra_val_cos1)
//   S_i = sum|u| / n_u + mean_theta cos(u_theta, v_theta) * sum|v| / n_v,  S_bar = ema * S_bar + (1 - ema) * S_i
// where n_u, n_v count the parameters active in each step (ours; the paper: n_i at the largest rank)
// for every kept module, every step until the search ends. The official code's other criteria
// (--prune_criterion) and its signed variant (--no_abs_grad: -sum instead of sum|.|) are options.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "bipeft/search/architecture.h"
#include "bipeft/search/criterion.h"
#include "bipeft/search/gate_effect.h"

namespace bipeft::search {


/// One step's S_i from the records (the formula of `c`), each record divided by the parameters that
/// took part in its step (`n_train`, `n_val`: the module's count at the rank it ran at; <= 0 counts as
/// 1). The paper divides both by the max-rank count n_i.
double step_sensitivity(Criterion c, double train_record, double val_record, double cosine, double n_train,
                        double n_val);

/// Parameters of `m` at the rank its current gate runs it at (0 when off).
double active_params(const peft::PeftModule& m);

struct SensitivityOptions {
  double ema = 0.97;
  Criterion criterion = Criterion::TrainValCos1;
  /// true: records are sum|theta * g| (Eq. 1-2); false: -sum(theta * g), the first-order loss
  /// increase when the module's weights are scaled towards zero (the code's --no_abs_grad).
  bool abs_grad = true;
  /// Ours: a module's score is S_bar / U_bar, where U_bar = ema * U_bar + (1 - ema) * |S_i - S_bar| is the
  /// EMA of its step records' spread (AdaLoRA's uncertainty term): a signal-to-noise ratio, which does not
  /// change when a module's products are all scaled by one factor (e.g. by its distance from the output).
  /// Product criteria only (gate_effect scores are fitted, not averaged).
  bool snr = false;
};

class SensitivityTracker {
 public:
  SensitivityTracker(size_t modules, SensitivityOptions options);

  /// gate_effect: one binary-stage forward (the modules' sampled on-values and the batch loss);
  /// ignored by the other criteria.
  void record_sample(const std::vector<double>& on, double loss);
  /// Whether the scores mean anything yet: gate_effect needs enough samples for its fit (triggers
  /// wait for it); the product criteria are always ready.
  bool ready() const { return !regression_ || regression_->ready(); }
  /// The gate_effect regression (nullptr for the other criteria), for checkpoints.
  GateEffectRegression* regression() { return regression_.get(); }

  /// Records v = theta * grad for every kept module (call right after the architecture backward).
  void record_validation(const std::vector<SearchModule>& modules);
  /// Computes u from the current parameters and gradients, updates S and its EMA for kept modules.
  void update_from_train(const std::vector<SearchModule>& modules);

  const std::vector<double>& smoothed() const { return smoothed_; }
  /// U_bar per module (zeros unless options.snr).
  const std::vector<double>& spread() const { return spread_; }
  /// What selection reads: S_bar, or with options.snr S_bar / U_bar (0 while U_bar is 0).
  std::vector<double> scores() const;
  /// The last per-step sensitivities (before smoothing).
  const std::vector<double>& last() const { return last_; }
  /// From a saved state; `spread` may be empty (a state without it: zeros).
  void restore(std::vector<double> smoothed, std::vector<double> spread = {});

 private:
  std::vector<double> smoothed_;
  std::vector<double> spread_;
  std::vector<double> last_;
  std::vector<std::vector<at::Tensor>> val_;  // per module: v per parameter tensor (undefined = no gradient)
  std::vector<double> val_n_;                 // per module: its active parameters in the validation step
  SensitivityOptions o_;
  std::unique_ptr<GateEffectRegression> regression_;
};

/// theta * grad for every parameter of `m` (undefined entries where there is no gradient).
std::vector<at::Tensor> weight_gradient_products(const peft::PeftModule& m);

}  // namespace bipeft::search
