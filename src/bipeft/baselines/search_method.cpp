#include "bipeft/baselines/search_method.h"

#include "bipeft/baselines/prune_peft.h"
#include "bipeft/baselines/random_structure.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::baselines {

using search::SearchResult;
using Ck = train::Checkpointing;

const std::vector<SearchMethod>& search_methods() {
  // The table: one entry per method.
  static const std::vector<SearchMethod> methods = {
      {"bipeft", {}, "iterative binary/dimension search with budget-guided early selection", false, true,
       [](const SearchRequest& r, const RunContext& ctx, const Ck& ck) {
         return search::run_search(r.backbone, *r.tokenizer, *r.task, r.space, r.options, r.budget, ctx, ck);
       }},
      {"s3delta", {"delta-m", "deltam", "s3pet-m", "s3pet"}, "S3Delta-M, binary-concrete gates under a budget shift",
       true, false,
       [](const SearchRequest& r, const RunContext& ctx, const Ck&) {
         return s3delta_search(r.backbone, *r.tokenizer, *r.task, r.space, r.options, r.method_options.s3delta,
                               r.budget, ctx);
       }},
      {"prunepeft", {"prune-peft"}, "PrunePEFT-style, train the whole space, prune rank components and modules by Taylor importance on a cubic schedule", false, false,
       [](const SearchRequest& r, const RunContext& ctx, const Ck&) {
         return prune_peft_search(r.backbone, *r.tokenizer, *r.task, r.space, r.options, r.budget, ctx);
       }},
      {"autopeft", {"auto-peft"}, "Bayesian optimisation over configurations trained as trials", false,
       false,
       [](const SearchRequest& r, const RunContext& ctx, const Ck&) {
         return autopeft_search(r.backbone, *r.tokenizer, *r.task, r.space, r.options, r.method_options.autopeft,
                                r.budget, ctx);
       }},
      {"adalora", {"ada-lora"}, "SVD-form LoRA pruned by importance on a cubic rank schedule", false, false,
       [](const SearchRequest& r, const RunContext& ctx, const Ck&) {
         return adalora_search(r.backbone, *r.tokenizer, *r.task, r.space, r.options, r.method_options.adalora,
                               r.budget, ctx);
       }},
      {"random", {}, "a random structure of the budget's size", false, false,
       [](const SearchRequest& r, const RunContext& ctx, const Ck&) {
         return random_structure(r.backbone, r.space, r.options, r.budget, ctx);
       }},
  };
  return methods;
}

std::vector<std::string> search_method_names() {
  std::vector<std::string> names;
  for (const auto& m : search_methods()) names.push_back(m.name);
  return names;
}

namespace {
// The registered method `name` names (canonical or alias, any case), or nullptr.
const SearchMethod* lookup(const std::string& name) {
  const std::string n = to_lower(name);
  for (const auto& m : search_methods()) {
    if (m.name == n) return &m;
    for (const auto& a : m.aliases)
      if (a == n) return &m;
  }
  return nullptr;
}
}  // namespace

const SearchMethod& find_search_method(const std::string& name) {
  if (const auto* m = lookup(name)) return *m;
  throw ConfigError("unknown search method '" + name + "'; known: " + join(search_method_names(), ", "));
}

bool is_search_method(const std::string& name) { return lookup(name) != nullptr; }

std::string canonical_search_method(const std::string& method) { return find_search_method(method).name; }

std::vector<int64_t> method_ranks(const std::string& method, const std::vector<int64_t>& ranks) {
  if (find_search_method(method).single_rank && !ranks.empty()) return {ranks.front()};
  return ranks;
}

SearchResult run_search_method(const std::string& method, const SearchRequest& request, const RunContext& ctx,
                               const train::Checkpointing& checkpointing) {
  if (request.tokenizer == nullptr || request.task == nullptr)
    throw ConfigError("search request: tokenizer and task must be set");
  const auto& m = find_search_method(method);
  return m.run(request, ctx, m.keeps_state ? checkpointing : Ck{});
}

SearchResult run_search_method(const std::string& method, model::T5Model backbone, const text::Tokenizer& tokenizer,
                               const data::TaskData& task, const search::SpaceOptions& space,
                               const search::SearchOptions& options, const MethodOptions& mo, double budget,
                               const RunContext& ctx, const train::Checkpointing& checkpointing) {
  SearchRequest r;
  r.backbone = std::move(backbone);
  r.tokenizer = &tokenizer;
  r.task = &task;
  r.space = space;
  r.options = options;
  r.method_options = mo;
  r.budget = budget;
  return run_search_method(method, r, ctx, checkpointing);
}

}  // namespace bipeft::baselines
