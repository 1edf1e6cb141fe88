#include "bipeft/cli/option_flags.h"

#include <map>
#include <regex>
#include <vector>

namespace bipeft::cli {

std::string option_flag(const CLI::App& app, const std::string& command, const std::string& owner,
                        const std::string& field) {
  // Flags not spelled as their field (keyed by "Owner.field" where only that owner's field is renamed).
  static const std::map<std::string, std::string> renamed = {
      {"batch_size", "batch"},       {"clip_norm", "clip"},          {"max_train_examples", "max-train"},
      {"eval_batch_size", "eval-batch"}, {"noise_density", "noise"}, {"mean_span_length", "mean-span"},
      {"gumbel", "no-gumbel"},       {"iterative", "no-iterative"},  {"abs_grad", "signed-sensitivity"},
      {"rank_gradient_full", "no-full-rank-gradient"}, {"delta_scale", "scale"}, {"target_tokens", "tokens"},
      {"max_sentences", "sentences"}, {"balance_effects", "no-balance"}, {"removal_in_order", "paper-removal"}, {"alpha_lr", "arch-lr"},       {"dist::connect.timeout", "dist-timeout"}};
  std::string base = field;
  if (auto it = renamed.find(owner + "." + field); it != renamed.end()) {
    base = it->second;
  } else if (auto it2 = renamed.find(field); it2 != renamed.end()) {
    base = it2->second;
  } else {
    for (auto& c : base)
      if (c == '_') c = '-';
  }
  std::vector<std::string> candidates;
  if (owner == "TrainOptions") {
    if (command == "search" || command == "compare") candidates.push_back("--retrain-" + base);
    if (command == "bench planted") candidates.push_back("--train-" + base);
  }
  candidates.push_back("--" + base);
  for (const auto& flag : candidates)
    if (app.get_option_no_throw(flag) != nullptr) return flag;
  return "";
}

std::string option_flag(const CLI::App& app, const std::string& command, const OptionError& e) {
  return option_flag(app, command, e.owner(), e.field());
}

std::string with_flags(const CLI::App& app, const std::string& command, const std::string& text) {
  static const std::regex reference(R"(\b([A-Z][A-Za-z]*(?:Options|Request)|dist::connect)\.([a-z][a-z0-9_]*)\b)");
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.begin(), text.end(), reference), end; it != end; ++it) {
    const auto& m = *it;
    out.append(last, m[0].first);
    const auto flag = option_flag(app, command, m[1].str(), m[2].str());
    out += flag.empty() ? m[0].str() : flag;
    last = m[0].second;
  }
  out.append(last, text.cend());
  return out;
}

namespace {
struct CurrentCommand {
  const CLI::App* app = nullptr;
  std::string name;
};
CurrentCommand& current() {
  static CurrentCommand c;
  return c;
}
}  // namespace

void set_current_command(const CLI::App* app, const std::string& command) {
  current().app = app;
  current().name = command;
}

std::string with_current_flags(const std::string& text) {
  const auto& c = current();
  return c.app != nullptr ? with_flags(*c.app, c.name, text) : text;
}

}  // namespace bipeft::cli
