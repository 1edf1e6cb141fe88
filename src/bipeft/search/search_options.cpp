#include "bipeft/search/search_options.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <string>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::search {

void SearchOptions::validate() const {
  const auto bad = [](const char* field, const std::string& rule) { throw OptionError("SearchOptions", field, rule); };
  if (ranks.empty()) bad("ranks", "needs at least one rank");
  for (size_t i = 0; i < ranks.size(); ++i)
    if (ranks[i] < 1 || (i > 0 && ranks[i] <= ranks[i - 1]))
      bad("ranks", "must be positive and strictly increasing (e.g. 1,4,8)");
  if (epochs < 1) bad("epochs", "must be >= 1, got " + std::to_string(epochs));
  if (prune_begin_epoch < 0 || prune_begin_epoch >= epochs)
    bad("prune_begin_epoch", "must be in [0, epochs) = [0, " + std::to_string(epochs) + "), got " +
                                 std::to_string(prune_begin_epoch));
  if (max_triggers < 1) bad("max_triggers", "must be >= 1");
  if (window < 1) bad("window", "must be >= 1");
  if (trigger_gap < 0 && trigger_gap != kTriggerGapSpread)
    bad("trigger_gap", "must be >= 0, or " + std::to_string(kTriggerGapSpread) + " (spread), got " + std::to_string(trigger_gap));
  if (!(threshold > 0 && threshold <= 1)) bad("threshold", "must be in (0, 1]");
  if (!(ema >= 0 && ema < 1)) bad("ema", "must be in [0, 1)");
  if (sensitivity_snr && criterion == Criterion::GateEffect)
    bad("sensitivity_snr", "is true, but criterion gate_effect fits its scores instead of averaging records; use a product "
                           "criterion (e.g. tra_val_cos1) with it");
  if (criterion == Criterion::GateEffect && !gumbel)
    bad("gumbel", "is false, but criterion gate_effect fits the loss on the Gumbel on/off samples (it cannot run "
                  "with gumbel = false)");
  if (alpha_free_triggers < 0) bad("alpha_free_triggers", "must be >= 0");
  if (batch_size < 1) bad("batch_size", "must be >= 1");
  if (!(lr > 0)) bad("lr", "must be > 0");
  if (!(arch_lr > 0)) bad("arch_lr", "must be > 0");
  if (weight_decay < 0) bad("weight_decay", "must be >= 0");
  if (arch_weight_decay < 0) bad("arch_weight_decay", "must be >= 0");
  if (arch_reg < 0) bad("arch_reg", "must be >= 0");
  if (clip_norm < 0) bad("clip_norm", "must be >= 0");
  if (!(tau_start > 0)) bad("tau_start", "must be > 0");
  if (!(tau_end > 0)) bad("tau_end", "must be > 0");
  if (log_every < 1) bad("log_every", "must be >= 1");
  if (max_train_examples < 0) bad("max_train_examples", "must be >= 0");
  const auto one_of = [&](const std::string& v, const std::vector<std::string>& names, const char* field) {
    if (std::find(names.begin(), names.end(), v) == names.end()) bad(field, "'" + v + "' must be one of " + join(names, ", "));
  };
  one_of(rank_training, rank_training_names(), "rank_training");
  one_of(stage_order, stage_order_names(), "stage_order");
  one_of(rank_choice, rank_choice_names(), "rank_choice");
  if (rank_probe_rows < 1) bad("rank_probe_rows", "must be >= 1");
  if (rank_probe_draws < 0) bad("rank_probe_draws", "must be >= 0");
  if (!(rank_probe_share > 0 && rank_probe_share <= 1)) bad("rank_probe_share", "must be in (0, 1]");
  if (!(rank_cost >= 0) || !std::isfinite(rank_cost)) bad("rank_cost", "must be >= 0");
  if (!(rank_price >= 0) || !std::isfinite(rank_price)) bad("rank_price", "must be >= 0");
  if (ablation_rows < 0) bad("ablation_rows", "must be >= 0");
  if (!(rank_energy >= 0 && rank_energy < 1)) bad("rank_energy", "must be in [0, 1)");
  if (rank_window < 0 || rank_window == 1) bad("rank_window", "must be 0 or >= 2");
  if (stage_order != "alternate" && !iterative)
    bad("stage_order", "'" + stage_order + "': the stage orders need the iterative space (iterative = true)");
}

ArchitectureOptions SearchOptions::architecture() const {
  ArchitectureOptions a;
  a.ranks = ranks;
  a.iterative = iterative;
  a.gumbel = gumbel;
  a.rank_gradient_full = rank_gradient_full;
  a.init_std = arch_init_std;
  return a;
}

const std::vector<std::string>& rank_training_names() {
  static const std::vector<std::string> names{"argmax", "uniform", "beta", "sandwich"};
  return names;
}

const std::vector<std::string>& rank_choice_names() {
  static const std::vector<std::string> names{"beta", "probe"};
  return names;
}

const std::vector<std::string>& stage_order_names() {
  static const std::vector<std::string> names{"alternate", "binary-then-dim", "dim-then-binary"};
  return names;
}

nlohmann::json SearchOptions::to_json() const {
  nlohmann::json j = {{"ranks", ranks},
          {"epochs", epochs},
          {"prune_begin_epoch", prune_begin_epoch},
          {"max_triggers", max_triggers},
          {"window", window},
          {"threshold", threshold},
          {"trigger_gap", trigger_gap},
          {"ema", ema},
          {"criterion", criterion_name(criterion)},
          {"abs_grad", abs_grad},
          {"budget_fill", budget_fill},
          {"rank_training", rank_training},
          {"rank_gradient_full", rank_gradient_full},
          {"rank_cost", rank_cost},
          {"rank_price", rank_price},
          {"ablation_rows", ablation_rows},
          {"removal_in_order", removal_in_order},
          {"rank_energy", rank_energy},
          {"rank_choice", rank_choice},
          {"rank_probe_rows", rank_probe_rows},
          {"rank_probe_draws", rank_probe_draws},
          {"rank_probe_share", rank_probe_share},
          {"rank_window", rank_window},
          {"stage_order", stage_order},
          {"alpha_free_triggers", alpha_free_triggers},
          {"batch_size", batch_size},
          {"lr", lr},
          {"weight_decay", weight_decay},
          {"clip_norm", clip_norm},
          {"arch_lr", arch_lr},
          {"arch_betas", {arch_beta1, arch_beta2}},
          {"arch_weight_decay", arch_weight_decay},
          {"arch_reg", arch_reg},
          {"tau", {tau_start, tau_end}},
          {"iterative", iterative},
          {"early_selection", early_selection},
          {"gumbel", gumbel},
          {"max_train_examples", max_train_examples}};
  if (sensitivity_snr) j["sensitivity_snr"] = true;  // only when on: runs saved before the option still resume
  if (stack_balance) j["stack_balance"] = true;
  return j;
}

std::pair<int64_t, int64_t> paper_task_schedule(const std::string& task) {
  static const std::map<std::string, std::pair<int64_t, int64_t>> table = {
      {"cola", {15, 2}},  {"mrpc", {20, 2}},   {"sst2", {5, 1}},    {"stsb", {15, 2}},    {"mnli", {3, 1}},
      {"qnli", {4, 1}},   {"qqp", {3, 1}},     {"rte", {20, 2}},    {"superglue-rte", {20, 2}},
      {"boolq", {15, 2}}, {"cb", {40, 4}},     {"multirc", {40, 4}}, {"record", {1, 0}}, {"wic", {15, 2}}};
  auto it = table.find(task);
  return it != table.end() ? it->second : std::pair<int64_t, int64_t>{20, 2};
}

int64_t effective_trigger_gap(const SearchOptions& o, int64_t steps_per_epoch) {
  if (o.trigger_gap != kTriggerGapSpread) return o.trigger_gap;
  const int64_t after = std::max<int64_t>(0, o.epochs - o.prune_begin_epoch) * std::max<int64_t>(1, steps_per_epoch);
  return after / (2 * std::max<int64_t>(1, o.max_triggers));
}

int64_t steps_for_triggers(const SearchOptions& o, int64_t prune_begin_epoch, int64_t steps_per_epoch) {
  return prune_begin_epoch * steps_per_epoch + o.window + 1 + 2 * o.max_triggers * std::max<int64_t>(1, o.trigger_gap);
}

SearchSchedule default_search_schedule(const std::string& task, int64_t half_rows, const SearchOptions& o,
                                       int64_t epochs, int64_t prune_begin) {
  const auto [paper_epochs, paper_prune] = paper_task_schedule(task);
  SearchSchedule s;
  s.paper_epochs = paper_epochs;
  const int64_t spe = std::max<int64_t>(1, (std::max<int64_t>(1, half_rows) + o.batch_size - 1) / o.batch_size);
  if (epochs > 0) {
    s.epochs = epochs;
    s.prune_begin = prune_begin >= 0 ? prune_begin : std::min(paper_prune, epochs - 1);
    return s;
  }
  s.prune_begin = prune_begin >= 0 ? prune_begin : paper_prune;
  const int64_t needed = steps_for_triggers(o, s.prune_begin, spe);
  s.epochs = std::max({paper_epochs, (needed + spe - 1) / spe, s.prune_begin + 1});
  return s;
}

}  // namespace bipeft::search
