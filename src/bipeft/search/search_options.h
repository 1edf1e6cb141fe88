#pragma once
// Options of the BIPEFT search; defaults are the paper scripts' (ALGORITHM.md §12).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/train/objective.h"

namespace bipeft::search {

struct SearchOptions {
  std::vector<int64_t> ranks{1, 4, 8};  // candidate ranks D
  int64_t epochs = 20;                  // upper bound; the search stops after max_triggers triggers (§10.1)
  int64_t prune_begin_epoch = 2;        // triggers are considered from this 0-based epoch on (§11.4)
  int64_t max_triggers = 100;           // K (§7)
  int64_t window = 5;                   // T: indicators compared by the trigger (§7)
  double threshold = 0.85;              // gamma: trigger stability threshold (§7)
  int64_t trigger_gap = 0;              // ours: at least N weight steps between two triggers (0 = the code's rule)
  double ema = 0.85;                    // sensitivity EMA factor (§6)
  std::string criterion = "tra_val_cos1";  // how train/validation records make S_i (§6, --prune_criterion)
  bool abs_grad = true;                 // false: signed records -sum(theta*g) (§6, the code's --no_abs_grad)
  bool budget_fill = true;              // ours: the final rank fix raises ranks while they fit the budget
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
  nlohmann::json to_json() const;
};

/// The paper scripts' search epoch cap and prune-begin epoch of a task (canonical name; ALGORITHM.md
/// §11.4); (20, 2) for tasks the scripts do not list.
std::pair<int64_t, int64_t> paper_task_schedule(const std::string& task);

}  // namespace bipeft::search
