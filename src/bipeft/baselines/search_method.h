#pragma once
// One entry point for every structure-search method that `bipeft search --method` and `bipeft compare`
// offer: BIPEFT and the baselines share the supernet, the data halves, the budget semantics and the
// result type, and differ only in their policy. The methods are a registry (search_methods()): a new
// method is its own files plus one entry in search_method.cpp's table; the CLI, compare and the budget
// checks read the registry, nothing else names a method.
#include <functional>
#include <string>
#include <vector>

#include "bipeft/baselines/adalora.h"
#include "bipeft/baselines/autopeft.h"
#include "bipeft/baselines/s3delta.h"
#include "bipeft/search/searcher.h"

namespace bipeft::baselines {

/// Options only some methods read.
struct MethodOptions {
  S3DeltaOptions s3delta;
  AutoPeftOptions autopeft;
  AdaLoraOptions adalora;
};

/// Everything a search method takes: the backbone, its tokenizer, the task, the space, the budget (a
/// parameter count) and the options. The tokenizer and task are borrowed and must outlive the call.
struct SearchRequest {
  model::T5Model backbone = nullptr;
  const text::Tokenizer* tokenizer = nullptr;
  const data::TaskData* task = nullptr;
  search::SpaceOptions space;
  search::SearchOptions options;
  MethodOptions method_options;
  double budget = 0;  // trainable parameters (search::parse_budget turns "1%" into a count)
};

/// One registered search method.
struct SearchMethod {
  std::string name;                  // canonical, lower case
  std::vector<std::string> aliases;  // other accepted names, lower case
  std::string summary;               // one line for --help and the docs
  bool single_rank = false;          // searches only the smallest candidate rank (whole modules)
  bool keeps_state = false;          // keeps a mid-run state for Checkpointing (others start over)
  std::function<search::SearchResult(const SearchRequest&, const RunContext&, const train::Checkpointing&)> run;
};

/// The registry, in the order of `--help` and compare tables.
const std::vector<SearchMethod>& search_methods();

/// The method named `name` (case-insensitive; a canonical name or an alias); ConfigError listing the
/// known methods otherwise.
const SearchMethod& find_search_method(const std::string& name);

/// The canonical names: "bipeft", "s3delta", "prunepeft", "autopeft", "adalora", "random".
std::vector<std::string> search_method_names();

/// Whether `name` names a registered method (a canonical name or an alias, case-insensitive).
bool is_search_method(const std::string& name);

/// find_search_method(method).name.
std::string canonical_search_method(const std::string& method);

/// The candidate ranks `method` searches over, given the user's: a single-rank method (S3Delta) gates
/// whole modules at the smallest candidate; the others use all of them.
std::vector<int64_t> method_ranks(const std::string& method, const std::vector<int64_t>& ranks);

/// Runs `request` with the method named `method` (any accepted name). Only methods with keeps_state
/// (BIPEFT) use `checkpointing`; the baselines start over on a resume and reach the same result (they
/// are deterministic in ctx.seed).
search::SearchResult run_search_method(const std::string& method, const SearchRequest& request, const RunContext& ctx,
                                       const train::Checkpointing& checkpointing = {});

/// The same with the request's parts as arguments.
search::SearchResult run_search_method(const std::string& method, model::T5Model backbone,
                                       const text::Tokenizer& tokenizer, const data::TaskData& task,
                                       const search::SpaceOptions& space, const search::SearchOptions& options,
                                       const MethodOptions& method_options, double budget, const RunContext& ctx,
                                       const train::Checkpointing& checkpointing = {});

}  // namespace bipeft::baselines
