#pragma once
// Options of the BIPEFT search; defaults are the paper scripts' (ALGORITHM.md §12).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/search/criterion.h"
#include "bipeft/train/objective.h"

namespace bipeft::search {

/// What the architecture parameters (alpha, beta and their gates) need from the search options.
struct ArchitectureOptions {
  std::vector<int64_t> ranks{1, 4, 8};  // candidate ranks D
  bool iterative = true;                // false: the entangled space {0} + D (§5.4)
  bool gumbel = true;                   // false: soft softmax instead of hard Gumbel samples
  bool rank_gradient_full = true;       // dimension stage at the largest rank behind the sample's mask
  double init_std = 1e-3;               // alpha, beta ~ N(0, std^2)
};

/// SearchOptions::trigger_gap's "spread" value (`--trigger-gap spread`).
inline constexpr int64_t kTriggerGapSpread = -1;

struct SearchOptions {
  std::vector<int64_t> ranks{1, 4, 8};  // candidate ranks D
  int64_t epochs = 20;                  // upper bound; the search stops after max_triggers triggers (§10.1)
  int64_t prune_begin_epoch = 2;        // triggers are considered from this 0-based epoch on (§11.4)
  int64_t max_triggers = 100;           // K (§7)
  int64_t window = 5;                   // T: indicators compared by the trigger (§7)
  double threshold = 0.85;              // gamma: trigger stability threshold (§7)
  // Ours: weight steps between two triggers. kTriggerGapSpread (the default since 2026-12-07) spreads the
  // K triggers over the first half of the steps after prune-begin on a schedule (trigger j from the first
  // possible trigger step + j x effective_trigger_gap; a delayed one lets the next catch up), as the
  // AdaLoRA baseline spreads its rank reduction (docs/search.md "Spread triggers"); N >= 0 = at least N
  // steps after the last (0 = the code's rule: triggers on consecutive steps, which removed most of the
  // space within ~25 steps on SST-2).
  int64_t trigger_gap = kTriggerGapSpread;
  double ema = 0.97;                    // sensitivity EMA factor (§6; the code has 0.85: docs/search.md)
  Criterion criterion = Criterion::TrainValCos1;  // how train/validation records make S_i (§6, --prune_criterion)
  bool abs_grad = true;                 // false: signed records -sum(theta*g) (§6, the code's --no_abs_grad)
  bool sensitivity_snr = false;         // ours: select by S_bar over the EMA of its records' spread (SensitivityOptions::snr)
  // Ours: every selection decision (removal order, trigger indicator, budget fill, repair) reads each kept
  // module's score divided by the median score of the kept modules of its stack (encoder, decoder), so
  // the stacks compete on their own scale (stack_balanced_scores; on SST-2 the decoder's are 5-10x).
  bool stack_balance = false;
  bool budget_fill = true;              // ours: the final rank fix raises ranks while they fit the budget
  // Rank search (ours; docs/search.md "Rank search"). Which rank a kept ranked module trains at in a
  // weight step: "argmax" (the paper: argmax beta, so components above it never train), "uniform" (a
  // candidate drawn uniformly, nested-dropout style: every component trains and the leading ones learn
  // the most), or "beta" (drawn from softmax(beta)).
  std::string rank_training = "uniform";
  // Dimension-stage forward of modules whose zero-masked components are exactly absent (LoRA,
  // adapters): run at the largest rank with the sampled candidate's 0/1 mask, so beta's straight-through
  // gradient also sees the components above the sampled rank (false: the paper's slice of the sample).
  bool rank_gradient_full = true;
  double rank_cost = 0.0;               // ours: adds cost * E_beta[params_i] / max params_i to beta's loss
  // Ours: the price of a larger rank in the dimension stage, relative to what the module's ranks can
  // save (Architecture::rank_price): a candidate's components must save more than rank_price x the
  // module's gain range x their share of the extra parameters. 0 = the paper (no price).
  double rank_price = 0.0;
  // Ours: what orders the removals at a trigger. 0 = the smoothed sensitivity (Eq. 1-4, the paper);
  // N > 0 = ablation: the loss increase on the first N rows of the validation half when the module
  // alone is switched off (kept modules at their fixed rank, or the largest while free), per parameter.
  int64_t ablation_rows = 0;
  // Ours: the removal scan at a trigger stops at the first module (by ascending sensitivity) that does not
  // fit in delta, instead of passing over it to smaller, more sensitive ones (selection.h
  // modules_to_remove; false = the paper's scan, which removed the second most sensitive module of a
  // planted search: docs/search.md "Removal in order").
  bool removal_in_order = true;
  // Ours: how a rank is chosen when it is fixed. 0 = argmax beta (the paper); F in (0, 1) = the
  // smallest candidate whose leading components hold F of the module's component energy (the squares of
  // PeftModule::component_weights; with the rank draws of the weight steps, components a module does
  // not need stay small). Modules without component weights keep argmax beta.
  double rank_energy = 0.0;
  // Ours: what chooses a rank when it is fixed. "beta" = argmax beta (the paper; rank_energy applies);
  // "probe" = the loss on the first rank_probe_rows rows of the validation half with the module off and
  // at each candidate (every other kept module at its fixed rank, or the largest while free), and the
  // smallest candidate that saves at least rank_probe_share of what the module's best candidate saves
  // (selection.h smallest_sufficient_candidate; argmax beta when no candidate saves anything).
  std::string rank_choice = "beta";
  int64_t rank_probe_rows = 64;
  // 0: the probe runs every other kept module on (fixed rank, or the largest while free); N >= 1: it
  // averages its losses over N configurations of the others drawn as the weight steps draw them (on with
  // alpha's on-probability, a free rank uniformly), the context the modules were trained in.
  int64_t rank_probe_draws = 0;
  double rank_probe_share = 0.85;
  // Beta snapshots Eq. 9-10 look back over: 0 = those since the last trigger (cleared at every trigger,
  // close to the code's rule); N >= 2 = the last N, never cleared (ours: triggers on consecutive steps
  // still see a history). Not the default: measured on the tiny searches of the suite, a window of 20
  // fixed most ranks early at a near coin-flip argmax and left the budget fill nothing to do.
  int64_t rank_window = 0;
  // Order of the architecture stages (Table 2 ablations): "alternate" (the paper), "binary-then-dim"
  // (alpha steps until half the triggers fired, then beta steps), "dim-then-binary" (the reverse).
  std::string stage_order = "alternate";
  int64_t alpha_free_triggers = 10;     // E ignores alpha during the last N triggers (§8.1)
  int64_t batch_size = 32;              // both search halves
  double lr = 3e-4;                     // AdamW on PEFT weights (§5.2)
  double weight_decay = 1e-4;
  double clip_norm = 2.0;
  double arch_lr = 0.01;                // Adam on architecture logits (§5.2)
  double arch_beta1 = 0.5, arch_beta2 = 0.999;
  double arch_weight_decay = 1e-4;      // L2 added to the arch gradient
  double arch_reg = 0.01;               // 0.01 * sum mean|softmax(P) - P| (§4.5)
  double tau_start = 5.0, tau_end = 1.0;  // tau_e = start - (start - end) * e / epochs (§4.2)
  double arch_init_std = 1e-3;          // arch logits ~ N(0, std^2)
  bool iterative = true;                // false: the entangled single-stage ablation (§5.4)
  bool early_selection = true;          // false: no sensitivity/trigger/pruning; argmax at the end
  bool gumbel = true;                   // false: soft softmax instead of hard Gumbel samples
  int64_t log_every = 1;                // a trace line every N steps
  int64_t max_train_examples = 0;       // cap on the train split before halving (0 = all)
  train::BatchObjective objective;      // loss of both halves (empty: label cross-entropy); set by code, not saved
  /// Throws ConfigError naming the broken constraint.
  void validate() const;
  /// What the architecture parameters read (Architecture's own options).
  ArchitectureOptions architecture() const;
  nlohmann::json to_json() const;
};

/// The accepted values of rank_training, rank_choice and stage_order.
const std::vector<std::string>& rank_training_names();
const std::vector<std::string>& rank_choice_names();
const std::vector<std::string>& stage_order_names();

/// The paper scripts' search epoch cap and prune-begin epoch of a task (canonical name; ALGORITHM.md
/// §11.4); (20, 2) for tasks the scripts do not list.
std::pair<int64_t, int64_t> paper_task_schedule(const std::string& task);

/// The gap between two triggers a search of `steps_per_epoch` steps per epoch keeps: trigger_gap, or for
/// kTriggerGapSpread floor(S / (2 K)) with S = (epochs - prune_begin_epoch) x steps_per_epoch, so that K
/// triggers fired as soon as the gap allows end halfway through the steps after prune-begin (0 when S < 2K).
int64_t effective_trigger_gap(const SearchOptions& options, int64_t steps_per_epoch);

/// Weight steps a search needs to fire all K triggers after `prune_begin_epoch` epochs of
/// `steps_per_epoch`: the trigger window must fill (window + 1 indicators), then K triggers with at
/// least max(1, trigger_gap) steps each (1 for kTriggerGapSpread, which adapts to the steps there are), with room for twice that (stability is not reached every step).
int64_t steps_for_triggers(const SearchOptions& options, int64_t prune_begin_epoch, int64_t steps_per_epoch);

struct SearchSchedule {
  int64_t epochs = 0;         // the search's epoch cap
  int64_t prune_begin = 0;    // first epoch where triggers may fire
  int64_t paper_epochs = 0;   // the paper's cap for the task (the default retrain length)
};

/// The default schedule of a search on `task` whose train half has `half_rows` rows (ours): the paper's
/// epoch cap and prune-begin epoch, with the cap raised until the K triggers of `options` fit
/// (steps_for_triggers), so that a small task still ends by its triggers, not by the cap. `epochs` > 0
/// or `prune_begin` >= 0 are the user's and win.
SearchSchedule default_search_schedule(const std::string& task, int64_t half_rows, const SearchOptions& options,
                                       int64_t epochs = 0, int64_t prune_begin = -1);

}  // namespace bipeft::search
