#include "bipeft/baselines/search_method.h"

#include <cctype>

#include "bipeft/baselines/prune_peft.h"
#include "bipeft/baselines/random_structure.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::baselines {

const std::vector<std::string>& search_method_names() {
  static const std::vector<std::string> names = {"bipeft", "s3delta", "prunepeft", "autopeft", "adalora", "random"};
  return names;
}

std::string canonical_search_method(const std::string& method) {
  std::string m;
  for (char c : method) m += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (m == "delta-m" || m == "deltam" || m == "s3pet-m" || m == "s3pet") m = "s3delta";
  if (m == "prune-peft") m = "prunepeft";
  if (m == "auto-peft") m = "autopeft";
  if (m == "ada-lora") m = "adalora";
  for (const auto& n : search_method_names())
    if (n == m) return n;
  throw ConfigError("unknown search method '" + method + "'; known: " + join(search_method_names(), ", "));
}

std::vector<int64_t> method_ranks(const std::string& method, const std::vector<int64_t>& ranks) {
  if (canonical_search_method(method) == "s3delta" && !ranks.empty()) return {ranks.front()};
  return ranks;
}

search::SearchResult run_search_method(const std::string& method, model::T5Model backbone,
                                       const text::Tokenizer& tokenizer, const data::TaskData& task,
                                       const search::SpaceOptions& space, const search::SearchOptions& options,
                                       const MethodOptions& mo, double budget, const RunContext& ctx,
                                       const train::Checkpointing& checkpointing) {
  const auto name = canonical_search_method(method);
  if (name == "bipeft")
    return search::run_search(backbone, tokenizer, task, space, options, budget, ctx, checkpointing);
  if (name == "s3delta") return s3delta_search(backbone, tokenizer, task, space, options, mo.s3delta, budget, ctx);
  if (name == "prunepeft") return prune_peft_search(backbone, tokenizer, task, space, options, budget, ctx);
  if (name == "autopeft")
    return autopeft_search(backbone, tokenizer, task, space, options, mo.autopeft, budget, ctx);
  if (name == "adalora") return adalora_search(backbone, tokenizer, task, space, options, mo.adalora, budget, ctx);
  return random_structure(backbone, space, options, budget, ctx);
}

}  // namespace bipeft::baselines
