#include "bipeft/cli/option_flags.h"

#include <map>
#include <vector>

namespace bipeft::cli {

std::string option_flag(const CLI::App& app, const std::string& command, const OptionError& e) {
  static const std::map<std::string, std::string> renamed = {
      {"batch_size", "batch"},       {"clip_norm", "clip"},          {"max_train_examples", "max-train"},
      {"eval_batch_size", "eval-batch"}, {"noise_density", "noise"}, {"mean_span_length", "mean-span"},
      {"gumbel", "no-gumbel"},       {"iterative", "no-iterative"},  {"abs_grad", "signed-sensitivity"},
      {"rank_gradient_full", "no-full-rank-gradient"}, {"delta_scale", "scale"}, {"target_tokens", "tokens"},
      {"max_sentences", "sentences"}, {"alpha_lr", "arch-lr"}};
  std::string base = e.field();
  if (auto it = renamed.find(base); it != renamed.end()) {
    base = it->second;
  } else {
    for (auto& c : base)
      if (c == '_') c = '-';
  }
  std::vector<std::string> candidates;
  if (e.owner() == "TrainOptions") {
    if (command == "search" || command == "compare") candidates.push_back("--retrain-" + base);
    if (command == "bench planted") candidates.push_back("--train-" + base);
  }
  candidates.push_back("--" + base);
  for (const auto& flag : candidates)
    if (app.get_option_no_throw(flag) != nullptr) return flag;
  return "";
}

}  // namespace bipeft::cli
