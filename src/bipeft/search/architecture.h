#pragma once
// The architecture side of the supernet (ALGORITHM.md §4): binary logits alpha [N, 2] (off, on) for
// every searchable module and rank logits beta [Nr, |D|] for the ranked ones (decision Q11: logits
// only for modules that exist), the per-module selection state (removed, dimension fixed), sampling of
// a configuration into the modules' gates, the regularizer and the expected parameter count.
#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "bipeft/peft/peft_module.h"
#include "bipeft/peft/structure.h"
#include "bipeft/search/search_options.h"

namespace bipeft::search {

struct SearchModule {
  peft::PeftModulePtr module;
  bool ranked = false;
  int64_t beta_row = -1;        // row in beta (ranked modules)
  std::vector<double> counts;   // exact parameters at each rank candidate (entangled: candidate 0 first)
  double full = 0;              // n_i: parameters at the largest rank (sensitivity normaliser)
  bool removed = false;         // m_i = 0 (early selection)
  bool fixed = false;           // f_i = 1 (dimension fixed)
  int64_t fixed_index = -1;     // candidate recorded at fix time (decision Q8)
};

/// The architecture logits live on the host whatever the backbone's device: they are a few numbers
/// per module, every step reads them for decisions, and a CPU generator samples them (equal seeds,
/// equal runs on every device). What enters the backbone's computation, the sampled gates, is moved
/// to the device and dtype of the modules' parameters (one copy per step), so no host tensor is
/// mixed into a GPU run.
class Architecture {
 public:
  enum class Stage { Binary, Dimension };

  /// `searchable` are the prunable modules of the supernet, all built at rank max(D).
  Architecture(const std::vector<peft::PeftModulePtr>& searchable, const ArchitectureOptions& options, at::Generator& gen);

  /// How a kept, unfixed ranked module's rank is chosen in the binary stage (SearchOptions::rank_training).
  /// Sandwich (ours): the largest candidate half of the time, otherwise uniform, so the components
  /// above the smaller candidates train twice as often as under Uniform (weight-sharing NAS's rule of
  /// always training the largest network, as one draw per step).
  enum class RankDraw { Argmax, Uniform, Beta, Sandwich };

  /// Samples a configuration for `stage` at temperature `tau` and sets every module's gate. The
  /// entangled ablation ignores `stage` (one candidate set including rank 0). In the binary stage a
  /// kept ranked module runs at its fixed rank, or else at the rank `draw` picks (argmax beta for the
  /// architecture steps, SearchOptions::rank_training for weight steps).
  void sample_gates_(Stage stage, double tau, at::Generator& gen, RankDraw draw = RankDraw::Argmax);
  /// Candidate index of each ranked module (by beta row) in the last sample: the drawn or sampled one
  /// (-1 for a module that was off or removed).
  const std::vector<int64_t>& sampled_rank_index() const { return sampled_rank_; }
  /// Ours: cost * sum over kept, free ranked modules of E_softmax(beta)[params] / max params (a
  /// differentiable pull of beta towards smaller ranks); an empty tensor when cost is 0.
  at::Tensor rank_cost(double cost) const;
  /// Ours (SearchOptions::rank_price): the price of the dimension-stage sample, sum over kept, free
  /// ranked modules of eps * gain_i * (n_ik - n_i1) / (n_iD - n_i1) times the sample's one-hot y_ik.
  /// Through the straight-through sample its gradient adds that price to dL/dy_ik, in the loss's own
  /// units: a larger candidate wins only when its components save more than eps times the module's
  /// gain range times their share of the extra parameters. gain_i is a running mean of
  /// max_k dL/dy_ik - min_k dL/dy_ik observed by observe_rank_gradient_. Empty when eps is 0, outside
  /// the dimension stage or without Gumbel samples.
  at::Tensor rank_price(double eps);
  /// After the dimension stage's backward: updates each free module's gain range from the sample's
  /// gradient (minus the price when `price_in_loss`: this process added rank_price to its loss).
  void observe_rank_gradient_(bool price_in_loss);
  /// The running gain ranges (by beta row; 0 until observed), saved with the search state.
  const std::vector<double>& rank_gains() const { return rank_gain_; }
  void restore_rank_gains(const std::vector<double>& gains);
  /// Per module, whether the last sample_gates_ switched it on (1/0; the on-weight without Gumbel
  /// or in the entangled space; 0 for removed modules).
  const std::vector<double>& sampled_on() const { return sampled_on_; }
  /// Deterministic gates of the current discrete choice (kept modules at their rank), no gradients.
  void discrete_gates_();
  /// 0.01-weighted sum of mean|softmax(P) - P| over alpha and beta (§4.5), scaled by `weight`.
  at::Tensor regularizer(double weight) const;

  /// Candidate index of ranked module i: the recorded one when fixed, else argmax beta.
  int64_t candidate_index(size_t i) const;
  /// The candidate a fix would record for ranked module i: with `energy` in (0, 1), the smallest one
  /// whose leading components hold that share of the module's component energy (when the module has
  /// component weights and they are not all zero); otherwise candidate_index(i).
  int64_t chosen_index(size_t i, double energy) const;
  /// Fixes ranked module i at its current candidate (argmax beta), recorded for good (decision Q8);
  /// a no-op when it is already fixed or not ranked.
  void fix_dimension_(size_t i);
  /// Fixes ranked module i at candidate `index` (the budget fill's choice); same no-op cases.
  void fix_dimension_(size_t i, int64_t index);
  /// The rank module i would have now (0 when removed or the entangled candidate 0).
  int64_t current_rank(size_t i) const;
  /// Exact parameters of module i at its current rank (0 when removed).
  double current_params(size_t i) const;
  /// Exact parameters of the current discrete choice (kept modules at their current ranks).
  double kept_params() const;
  /// Eq. 7-8 expected size of every module. With `use_alpha` (all but the last triggers) a module
  /// counts with alpha's on-probability and ranks as softmax(beta); without it (the final phase) a
  /// kept module counts in full at its current rank, i.e. E is the exact kept size.
  std::vector<double> expected_sizes(bool use_alpha) const;
  /// softmax(alpha)[on] of every module (in double precision), in module order.
  std::vector<double> on_probabilities() const;
  /// Eq. 10 vector of dimension values over the ranked modules (0 removed, fixed value when fixed).
  std::vector<double> dimension_values() const;
  /// Indices of ranked modules that are neither removed nor fixed.
  std::vector<size_t> free_ranked() const;
  /// Selected after a search without early selection: argmax alpha says on (iterative) / rank > 0.
  bool selected_by_logits(size_t i) const;

  /// The final structure: kept modules at their ranks (plus `base` options).
  peft::Structure final_structure(const peft::Structure& base) const;

  std::vector<SearchModule> modules;
  std::vector<int64_t> candidates;  // rank per beta column (entangled: 0 first)
  at::Tensor alpha, beta;           // trainable logits
  bool iterative;

 private:
  std::vector<double> sampled_on_;
  std::vector<int64_t> sampled_rank_;
  at::Tensor rank_sample_;       // the last dimension-stage sample y [Nr, C] (gradient retained)
  at::Tensor rank_price_used_;   // the price rank_price applied to it ([Nr, C]; undefined: none)
  std::vector<double> rank_gain_;  // per beta row: running mean of the sample gradient's range
  bool full_rank_gradient_;
  at::Tensor tri_;  // [C, rank_max]: tri[k, j] = j < candidates[k] (host)
  at::TensorOptions gate_options_;  // device and dtype of the modules' parameters: where gates go
  bool gumbel_;
  int64_t rank_max_;
};

}  // namespace bipeft::search
