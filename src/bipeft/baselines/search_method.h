#pragma once
// One entry point for every structure-search method that `bipeft search --method` offers: BIPEFT and
// the baselines share the supernet, the data halves, the budget semantics and the result type, and
// differ only in their policy.
#include <string>
#include <vector>

#include "bipeft/baselines/adalora.h"
#include "bipeft/baselines/autopeft.h"
#include "bipeft/baselines/s3delta.h"
#include "bipeft/search/searcher.h"

namespace bipeft::baselines {

/// "bipeft", "s3delta", "prunepeft", "autopeft", "adalora", "random".
const std::vector<std::string>& search_method_names();

/// The canonical name of `method` (case-insensitive; "delta-m" = s3delta, "prune-peft" = prunepeft,
/// "ada-lora" = adalora);
/// ConfigError listing the known methods otherwise.
std::string canonical_search_method(const std::string& method);

/// The candidate ranks `method` searches over, given the user's: S3Delta gates whole modules at one
/// rank (the smallest candidate); the others use all of them.
std::vector<int64_t> method_ranks(const std::string& method, const std::vector<int64_t>& ranks);

/// Options only some methods read.
struct MethodOptions {
  S3DeltaOptions s3delta;
  AutoPeftOptions autopeft;
  AdaLoraOptions adalora;
};

/// Runs `method` (canonical name). Only BIPEFT keeps a mid-run state for `checkpointing`; the
/// baselines start over on a resume and reach the same result (they are deterministic in ctx.seed).
search::SearchResult run_search_method(const std::string& method, model::T5Model backbone,
                                       const text::Tokenizer& tokenizer, const data::TaskData& task,
                                       const search::SpaceOptions& space, const search::SearchOptions& options,
                                       const MethodOptions& method_options, double budget, const RunContext& ctx,
                                       const train::Checkpointing& checkpointing = {});

}  // namespace bipeft::baselines
