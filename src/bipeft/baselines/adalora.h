#pragma once
// AdaLoRA (Zhang et al. 2023, "Adaptive budget allocation for parameter-efficient fine-tuning"; the
// behaviour of Hugging Face PEFT's AdaLoraModel / RankAllocator) as a search baseline on this engine,
// with the same budget semantics as the other methods: a trainable-parameter count.
//
// - SVD form: every LoRA module of the space runs at the largest candidate rank r as
//   delta = B diag(lambda) A x, with A [r, in] and B [out, r] drawn from N(0, 0.02^2) and lambda [r]
//   zero (HF's init; no lora_alpha / r scaling: our LoRA has none, the learning rate absorbs it). The
//   other modules of the space are off: AdaLoRA allocates LoRA ranks only.
// - Orthogonality: the training loss adds orth_reg * mean over the matrices of ||A A^T - I||_F and
//   ||B^T B - I||_F (every LoRA module's A and B at rank r).
// - Importance (after each optimizer step, on the clipped gradients): per element I = |w * dL/dw|,
//   Ibar <- b1 Ibar + (1 - b1) I, U <- b2 U + (1 - b2) |I - Ibar|, score = Ibar * U; triplet j of a
//   module scores s(lambda_j) + mean_in s(A_j,:) + mean_out s(B_:,j).
// - Budget schedule (HF's, counted in parameters; a triplet costs in + out, what it adds to the LoRA
//   that is retrained): the whole LoRA part until t_init, then a cubic descent to the budget at
//   t_end, masking every delta_t steps and at t_end: the triplets are kept by descending score while
//   they fit the scheduled size, the others get lambda_j = 0 (they may grow back until the next mask,
//   as in HF). From t_end on the pattern is fixed (lambda of pruned triplets held at 0) for
//   final_steps more steps, then the search ends.
// - Result: each LoRA module at the number of triplets it kept (any rank from 0 to r), retrained as a
//   plain LoRA like every other method's structure. Schedule steps follow PrunePEFT's: t_init = the
//   prune-begin epoch, t_end half-way from there to the end of --epochs.
#include <vector>

#include <ATen/core/Tensor.h>

#include "bipeft/search/searcher.h"

namespace bipeft::baselines {

struct AdaLoraOptions {
  double beta1 = 0.85;     // EMA of the sensitivity I (HF's beta1)
  double beta2 = 0.85;     // EMA of the uncertainty |I - Ibar| (HF's beta2)
  double orth_reg = 0.5;   // weight of the orthogonality term (HF's orth_reg_weight)
  int64_t delta_t = 10;    // steps between two budget masks (HF's deltaT)
  int64_t final_steps = 0; // steps trained with the fixed pattern after the budget is reached (HF's tfinal)
  double init_std = 0.02;  // N(0, std^2) for A and B
  void validate() const;
};

/// Mean over the matrices of ||A A^T - I||_F (for each of `down`, [r, in]) and ||B^T B - I||_F (for
/// each of `up`, [out, r]); a differentiable scalar (undefined when both lists are empty).
at::Tensor orthogonality_penalty(const std::vector<at::Tensor>& down, const std::vector<at::Tensor>& up);

/// The sensitivity and uncertainty averages of one tensor (HF RankAllocator.update_ipt).
class ImportanceAverage {
 public:
  ImportanceAverage(double beta1, double beta2) : beta1_(beta1), beta2_(beta2) {}
  /// One update from the weights `w` and their gradient `grad` (same shape; float64 internally).
  void update(const at::Tensor& w, const at::Tensor& grad);
  /// Ibar * U per element (zeros of `w`'s shape before the first update is not defined: call update first).
  at::Tensor score() const;
  bool empty() const { return !avg_.defined(); }

 private:
  double beta1_, beta2_;
  at::Tensor avg_, unc_;
};

/// Triplet scores [r] of one module: s_lambda [r] + row means of s_A [r, in] + column means of s_B [out, r].
at::Tensor triplet_scores(const at::Tensor& s_lambda, const at::Tensor& s_a, const at::Tensor& s_b);

/// Greedy budget mask: every triplet (module i, component j) in descending score (ties: lower i, then
/// lower j first) is kept when its cost costs[i] still fits in `target`. Returns per module a 0/1
/// keep list of scores[i].size().
std::vector<std::vector<uint8_t>> keep_by_score(const std::vector<std::vector<double>>& scores,
                                                const std::vector<double>& costs, double target);

/// True when the budget is masked at `step` (1-based, after the step's update): every delta_t steps
/// strictly between t_init and t_end, at t_end, and every step after it.
bool adalora_mask_step(int64_t step, int64_t t_init, int64_t t_end, int64_t delta_t);

/// Same contract as search::run_search (budget checks, result fields, events "start", "step", "mask",
/// "done"); `result.curve` holds step, scheduled size, kept size. ConfigError when the space has no
/// LoRA module. Interrupted on ctx.should_stop() (no state kept: a resume starts over, same result).
search::SearchResult adalora_search(model::T5Model backbone, const text::Tokenizer& tokenizer, const data::TaskData& task,
                                    const search::SpaceOptions& space, const search::SearchOptions& options,
                                    const AdaLoraOptions& adalora, double budget, const RunContext& ctx);

}  // namespace bipeft::baselines
