#pragma once
// The decision rules of budget-guided early selection (ALGORITHM.md §7-§9, with the §0 decisions),
// as pure functions over plain vectors so each equation can be tested on small hand-worked inputs.
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace bipeft::search {

/// Cosine similarity of two equally long vectors; 0 when either is all zeros.
double cosine(const std::vector<double>& a, const std::vector<double>& b);

/// Eq. 5 importance indicator over the kept modules: walk them by smoothed sensitivity (descending,
/// ties by index), set I_i = 1 when the running size plus size_i still fits the budget (modules that
/// do not fit are skipped), and stop once the running size reaches the budget. Removed modules have
/// I_i = 0 (ours: the official code also sets 1 for removed modules, whose size 0 always fits, so every
/// removal adds a permanent shared 1 to every indicator and the stability rises by itself).
std::vector<double> importance_indicator(const std::vector<double>& sensitivity, const std::vector<bool>& removed,
                                         const std::vector<double>& sizes, double budget);

/// The trigger of §7 (decision Q6): once more than `window` indicators were seen, the mean cosine of
/// the current indicator with each of the previous `window` ones must reach `threshold`; the history
/// is never cleared.
class TriggerDetector {
 public:
  TriggerDetector(int64_t window, double threshold) : window_(window), threshold_(threshold) {}
  /// Records `indicator` and returns true when it triggers. `stability` receives the mean cosine
  /// (NaN while fewer than window + 1 indicators have been seen).
  bool update(const std::vector<double>& indicator, double* stability = nullptr);
  int64_t seen() const { return seen_; }
  /// The last `window` indicators (what a checkpoint must keep).
  const std::deque<std::vector<double>>& recent() const { return recent_; }
  void restore(std::deque<std::vector<double>> recent, int64_t seen) {
    recent_ = std::move(recent);
    seen_ = seen;
  }

 private:
  int64_t window_;
  double threshold_;
  std::deque<std::vector<double>> recent_;
  int64_t seen_ = 0;
};

/// `scores` with each kept module's score divided by the median score of the kept modules of the same
/// stack (the part of its site name before the first '.', e.g. "encoder"); removed modules keep 0. A
/// stack whose median is 0 keeps its scores as they are.
std::vector<double> stack_balanced_scores(const std::vector<double>& scores, const std::vector<std::string>& sites,
                                          const std::vector<bool>& removed);

/// Eq. 6: the parameters to remove at this trigger, (E - B) / K_rem (K_rem before the decrement).
double removal_amount(double expected, double budget, int64_t remaining_triggers);

/// §8.2 greedy removal. Kept, prunable modules are scanned by ascending sensitivity (ties by index):
/// a module is removed when it fits in what is left of `delta`, or when nothing was removed yet and
/// delta > 0 and `force_one`; the scan stops once the removed size exceeds delta. Returns the indices to
/// remove. The searcher passes force_one = false at the last trigger, where the exact repair below
/// covers what is left with the smallest module that does so instead of the least sensitive one.
/// `in_order` (ours): the scan also stops at the first module that does not fit, so a module is never
/// removed while a less sensitive one stays (the paper's scan passes over a module that does not fit and
/// may then remove a much more sensitive smaller one; what is not removed now stays in E - B for the
/// next triggers).
std::vector<size_t> modules_to_remove(const std::vector<double>& sensitivity, const std::vector<bool>& removed,
                                      const std::vector<bool>& prunable, const std::vector<double>& sizes, double delta,
                                      bool force_one = true, bool in_order = false);

/// The last trigger's removal, closed (ours, not the paper's): the §8.2 scan (`picked`, from
/// modules_to_remove with force_one = false) stops short of `delta`, and the budget repair then removes
/// the smallest kept module that covers the rest, which with coarse modules can waste most of a
/// module's worth of the budget. When swapping one picked module for a larger kept, prunable one covers
/// `delta` with less waste than that repair would leave, make the swap (the least waste; ties: the lower
/// sensitivity of the module taken, then the higher of the one put back, then index). Only for exact `sizes` (every kept rank fixed); returns
/// the indices to remove.
std::vector<size_t> close_last_removal(const std::vector<double>& sensitivity, const std::vector<bool>& removed,
                                       const std::vector<bool>& prunable, const std::vector<double>& sizes,
                                       double delta, std::vector<size_t> picked);

/// Budget repair after the last trigger (ours, not the paper's): the §8.2 removal never overshoots
/// delta, so the structure usually ends a little above the budget. While `excess` > 0, remove the
/// smallest kept, prunable module that alone covers what is left (ties: lower sensitivity, then
/// index); when none is large enough, remove the least sensitive one and go on. Returns the indices.
std::vector<size_t> repair_to_budget(const std::vector<double>& sensitivity, const std::vector<bool>& removed,
                                     const std::vector<bool>& prunable, const std::vector<double>& sizes,
                                     double excess);

/// Budget fill when the last free ranks are fixed (ours, not the paper's; docs/search.md): the
/// paper fixes each rank at argmax beta, which after a short search is close to a coin flip, so
/// the structure can end far below the budget with nothing to grow it back. Starting from `start`
/// (a candidate index per free module; `counts[i][k]` = its parameters at candidate k, ascending in
/// k), repeatedly raise by one candidate the most sensitive module (ties: lower index) whose raise
/// still keeps the sum of the free modules' counts within `room`; stop when no raise fits. A start
/// above `room` (argmax ranks larger than the expected sizes the removal saw) is first lowered when
/// `may_lower` (the final fix and the last trigger's; before the last trigger its removal takes the excess), one candidate at a
/// time until it fits: the step that alone covers the excess with the smallest cut, else the least
/// sensitive module's; if even the smallest candidates do not fit it stays there (the budget repair
/// removes modules then). Returns the indices.
std::vector<int64_t> fill_ranks_to_budget(const std::vector<std::vector<double>>& counts, std::vector<int64_t> start,
                                          const std::vector<double>& sensitivity, double room,
                                          bool may_lower = true);

/// The rank probe's choice (ours, SearchOptions::rank_choice "probe"): `losses` = [loss with the module
/// off, loss at candidate 0, 1, ...] on the same rows. Candidate k saves off - losses[k + 1]; returns the
/// smallest k that saves at least `share` of the largest saving, or -1 when no candidate saves anything
/// (or a loss is not finite): the caller keeps its own choice then.
int64_t smallest_sufficient_candidate(const std::vector<double>& losses, double share);

/// Eq. 9 dimension stability indicator per ranked module from the beta snapshots since the last fix,
/// `history` [T, N, |D|] (T >= 2): mean_j std_t(beta_ij) x KL(softmax(beta_last) || softmax(beta_first)).
std::vector<double> dimension_stability(const at::Tensor& history);

/// Eq. 10 decision Q7: cosine of the vectors of dimension values (0 for removed, the fixed value for
/// fixed modules); 1 when undefined (a zero vector).
double dimension_agreement(const std::vector<double>& first_values, const std::vector<double>& last_values);

/// How many free dimensions to fix at this trigger (§9.2): 0 at the last trigger (K_rem == 0),
/// all of them when one trigger is left (K_rem == 1), else floor(g * n_free / K_rem), where K_rem
/// is counted after the decrement.
int64_t fix_count(double agreement, int64_t n_free, int64_t remaining_triggers);

}  // namespace bipeft::search
