#include "bipeft/search/search_options.h"

#include <map>

#include <string>

#include "bipeft/core/error.h"
#include "bipeft/search/sensitivity.h"

namespace bipeft::search {

void SearchOptions::validate() const {
  if (ranks.empty()) throw ConfigError("--ranks needs at least one rank");
  for (size_t i = 0; i < ranks.size(); ++i)
    if (ranks[i] < 1 || (i > 0 && ranks[i] <= ranks[i - 1]))
      throw ConfigError("--ranks must be positive and strictly increasing (e.g. 1,4,8)");
  if (epochs < 1) throw ConfigError("--epochs must be >= 1");
  if (prune_begin_epoch < 0 || prune_begin_epoch >= epochs)
    throw ConfigError("--prune-begin-epoch must be in [0, --epochs)");
  if (max_triggers < 1) throw ConfigError("--max-triggers must be >= 1");
  if (window < 1) throw ConfigError("--window must be >= 1");
  if (trigger_gap < 0) throw ConfigError("--trigger-gap must be >= 0");
  if (!(threshold > 0 && threshold <= 1)) throw ConfigError("--threshold must be in (0, 1]");
  if (!(ema >= 0 && ema < 1)) throw ConfigError("--ema must be in [0, 1)");
  if (parse_criterion(criterion, "--criterion") == Criterion::GateEffect && !gumbel)
    throw ConfigError("--criterion gate_effect fits the loss on the Gumbel on/off samples; it cannot run with --no-gumbel");
  if (alpha_free_triggers < 0) throw ConfigError("--alpha-free-triggers must be >= 0");
  if (batch_size < 1) throw ConfigError("--batch must be >= 1");
  if (!(lr > 0) || !(arch_lr > 0)) throw ConfigError("--lr and --arch-lr must be > 0");
  if (weight_decay < 0 || arch_weight_decay < 0 || arch_reg < 0) throw ConfigError("decays must be >= 0");
  if (clip_norm < 0) throw ConfigError("--clip must be >= 0");
  if (!(tau_start > 0) || !(tau_end > 0)) throw ConfigError("temperatures must be > 0");
  if (log_every < 1) throw ConfigError("--log-every must be >= 1");
  if (max_train_examples < 0) throw ConfigError("--max-train must be >= 0");
}

nlohmann::json SearchOptions::to_json() const {
  return {{"ranks", ranks},
          {"epochs", epochs},
          {"prune_begin_epoch", prune_begin_epoch},
          {"max_triggers", max_triggers},
          {"window", window},
          {"threshold", threshold},
          {"trigger_gap", trigger_gap},
          {"ema", ema},
          {"criterion", criterion},
          {"abs_grad", abs_grad},
          {"budget_fill", budget_fill},
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
}

std::pair<int64_t, int64_t> paper_task_schedule(const std::string& task) {
  static const std::map<std::string, std::pair<int64_t, int64_t>> table = {
      {"cola", {15, 2}},  {"mrpc", {20, 2}},   {"sst2", {5, 1}},    {"stsb", {15, 2}},    {"mnli", {3, 1}},
      {"qnli", {4, 1}},   {"qqp", {3, 1}},     {"rte", {20, 2}},    {"superglue-rte", {20, 2}},
      {"boolq", {15, 2}}, {"cb", {40, 4}},     {"multirc", {40, 4}}, {"record", {1, 0}}, {"wic", {15, 2}}};
  auto it = table.find(task);
  return it != table.end() ? it->second : std::pair<int64_t, int64_t>{20, 2};
}

}  // namespace bipeft::search
