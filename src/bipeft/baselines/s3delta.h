#pragma once
// S3Delta / S3PET-M ("Delta-M", Hu et al. 2022; ALGORITHM.md §14) in this engine: one scalar
// logit alpha_i per module of the space, every ranked module at one rank (the smallest of --ranks: 1
// by default, as in S3Delta's mix_low_rank space). The "shift" budget strategy solves for b with
//   sum_i sigmoid((alpha_i - b) / T_s) * n_i = B   (bisection instead of fsolve),
// p_i = sigmoid((alpha_i - b) / T_s) (b held constant), rescaled by B / sum p n (a detached sum);
// relaxed binary-concrete gates g_i = sigmoid((log u - log(1-u) + log p_i - log(1-p_i)) / T_c) scale
// each module's output. First-order DARTS: an alpha step (Adam) on a batch of the validation half,
// then a weight step (AdamW) on a batch of the training half. The final structure adds modules by
// descending p while they fit the budget.
#include <vector>

#include "bipeft/search/searcher.h"

namespace bipeft::baselines {

struct S3DeltaOptions {
  double alpha_lr = 0.1;               // Adam on alpha (S3Delta's scripts)
  double shift_temperature = 1.0;      // T_s in the shift equation
  double concrete_temperature = 1.0;   // T_c of the binary-concrete relaxation
  double alpha_init_std = 1e-3;
  void validate() const;
};

/// The shift b with sum_i sigmoid((alpha_i - b) / t) * n_i = budget (|residual| <= 1e-6 * budget, by
/// bisection). ConfigError when the budget is not in (0, sum n_i).
double solve_shift(const std::vector<double>& alpha, const std::vector<double>& sizes, double budget, double t);

/// Greedy final selection: indices by descending p (ties by index), each kept when it still fits.
std::vector<size_t> greedy_by_probability(const std::vector<double>& p, const std::vector<double>& sizes, double budget);

/// Same contract as search::run_search (the same budget checks, result fields and events "start",
/// "step", "done"; no triggers). Interrupted on ctx.should_stop() (no state is kept: a resume starts
/// the search over, with the same result).
search::SearchResult s3delta_search(model::T5Model backbone, const text::Tokenizer& tokenizer, const data::TaskData& task,
                                    const search::SpaceOptions& space, const search::SearchOptions& options,
                                    const S3DeltaOptions& s3, double budget, const RunContext& ctx);

}  // namespace bipeft::baselines
