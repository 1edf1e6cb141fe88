#pragma once
// AutoPEFT-style search (Zhou et al. 2024; ALGORITHM.md §14) in this engine: Bayesian optimisation over
// configurations of the space (per-module on/off plus one global size per ranked method, the
// "sappa" encoding when the space is s1), constrained to the budget. Each proposed configuration is
// trained briefly from scratch on the training half and scored by its loss on the validation half; the
// best configuration found is the result. AutoPEFT itself is multi-objective (size, score); here the
// size is a hard constraint (<= budget), so one objective remains: the validation loss.
#include "bipeft/search/searcher.h"

namespace bipeft::baselines {

struct AutoPeftOptions {
  int64_t trials = 12;        // configurations trained in all
  int64_t initial = 4;        // of which random (the initial design)
  int64_t trial_epochs = 1;   // epochs of the training half per trial
  void validate() const;
};

/// Same contract as search::run_search (budget checks, result fields, events "start", "trial",
/// "done"; the curve holds (trial, trial size, best size so far)). Interrupted on ctx.should_stop()
/// (no state is kept: a resume starts over, with the same result).
search::SearchResult autopeft_search(model::T5Model backbone, const text::Tokenizer& tokenizer, const data::TaskData& task,
                                     const search::SpaceOptions& space, const search::SearchOptions& options,
                                     const AutoPeftOptions& autopeft, double budget, const RunContext& ctx);

}  // namespace bipeft::baselines
