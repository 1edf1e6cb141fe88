#pragma once
// A small Bayesian optimiser over a discrete box (each dimension takes 0..choices-1), written with
// LibTorch tensors: a Gaussian-process surrogate (RBF kernel on the [0,1]-scaled configuration, its
// length scale picked by marginal likelihood from a grid, observations standardised) and expected
// improvement maximised over a candidate pool (random feasible draws plus one-step neighbours of the
// best observations). The first `initial` proposals are a random feasible design. Maximises.
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace bipeft::baselines {

using Config = std::vector<int64_t>;

struct BayesOptOptions {
  int64_t initial = 4;      // random feasible proposals before the surrogate is used
  int64_t pool = 512;       // random candidates scored by EI per proposal (plus neighbours)
  double xi = 0.01;         // EI exploration margin (in standardised units)
  double noise = 1e-4;      // GP observation noise (standardised units)
  int64_t max_draws = 20000;  // random draws tried to find feasible configurations
};

class BayesOpt {
 public:
  /// `choices[i]` >= 1 values per dimension; `feasible` filters every proposal (e.g. a budget).
  BayesOpt(std::vector<int64_t> choices, uint64_t seed, std::function<bool(const Config&)> feasible,
           BayesOptOptions options = {});

  /// The next configuration to evaluate: feasible, within the box, not observed before. ConfigError
  /// when no feasible unobserved configuration can be found.
  Config propose();
  /// Records the objective value (higher is better) of `config`.
  void observe(const Config& config, double value);

  const std::vector<Config>& observed() const { return xs_; }
  const std::vector<double>& values() const { return ys_; }
  /// Index of the best observation (-1 when none).
  int64_t best() const;

  /// GP posterior mean and standard deviation (in the objective's units) at `configs`.
  void predict(const std::vector<Config>& configs, std::vector<double>& mean, std::vector<double>& std) const;
  /// Expected improvement over the best observation at `configs`.
  std::vector<double> expected_improvement(const std::vector<Config>& configs) const;

 private:
  Config random_feasible();
  bool seen(const Config& c) const;

  std::vector<int64_t> choices_;
  std::function<bool(const Config&)> feasible_;
  BayesOptOptions options_;
  std::mt19937_64 rng_;
  std::vector<Config> xs_;
  std::vector<double> ys_;
};

}  // namespace bipeft::baselines
