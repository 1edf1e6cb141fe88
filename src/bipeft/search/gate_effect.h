#pragma once
// The loss change each module causes, estimated from the Gumbel on/off samples the search draws anyway
// (ours, beyond ALGORITHM.md; `--criterion gate_effect`). Every binary-stage forward switches each
// kept module on or off at random, so the batch losses of a search are a randomised experiment: a
// least-squares fit of loss = b + sum_i c_i * on_i over recent samples (forgetting factor lambda,
// a small ridge on c) gives effect_i = -c_i, the loss the module saves when it is on, averaged over
// the configurations of the other modules. Unlike |theta * grad|, it does not vanish where the
// module's weights are near a stationary point, and it credits a module with what it does in the
// output, not with the size of its gradient noise.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace bipeft::search {

class GateEffectRegression {
 public:
  /// `forget`: weight of the past per new sample, in (0, 1]; `ridge`: penalty on the coefficients
  /// relative to the total sample weight.
  GateEffectRegression(size_t modules, double forget, double ridge = 1e-3);

  /// One forward: which modules were on (1/0, or their on-weight) and its batch loss.
  void add(const std::vector<double>& on, double loss);
  /// effect_i = -c_i of the fit; all zero until ready().
  std::vector<double> effects() const;
  /// At least 2 (N + 1) samples: fewer would leave the fit to the ridge.
  bool ready() const { return samples_ >= 2 * (static_cast<int64_t>(n_) + 1); }
  int64_t samples() const { return samples_; }

  /// The normal equations, for a checkpoint: [N+1, N+1] and [N+1] (float64), and the sample count.
  std::vector<at::Tensor> state() const;
  /// Throws ConfigError when the shapes do not match this regression.
  void restore(const std::vector<at::Tensor>& state, int64_t samples);

 private:
  size_t n_;
  double forget_, ridge_;
  std::vector<double> xtx_;  // (n+1)^2, row-major; index 0 is the intercept
  std::vector<double> xty_;  // n+1
  int64_t samples_ = 0;
};

}  // namespace bipeft::search
