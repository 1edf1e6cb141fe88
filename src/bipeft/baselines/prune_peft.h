#pragma once
// PrunePEFT-style baseline (Lawton et al. 2023, as the BIPEFT paper describes it: "a simple pruning
// strategy"; no public code, so the criterion is ours and documented here). The supernet (every
// module of the space at the largest rank, all on) trains on the training half with AdamW. Every
// step, each prunable unit gets a first-order Taylor importance |dL/dm| of a gate m = 1 on it (the
// loss change when the unit is zeroed, to first order), smoothed with an EMA:
//   - a ranked module: one unit per rank component j (its rank-mask entry), so a module can shrink
//     from its rank to the next smaller candidate rank (8 -> 4 -> 1 -> removed);
//   - a vector module (BitFit, LNFit): one unit (its on-gate).
// From the prune-begin epoch on, the kept size follows a cubic schedule from the whole space down to
// the budget over half of the remaining steps; whenever the kept size is above the schedule, the
// shrink that loses the least importance per removed parameter is applied (removals are final).
// The search stops when the budget is reached and the schedule ends.
#include <vector>

#include "bipeft/search/searcher.h"

namespace bipeft::baselines {

/// The kept size the cubic schedule asks for at `step` (whole before `begin`, budget from `end` on).
double cubic_target(double whole, double budget, int64_t step, int64_t begin, int64_t end);

/// Same contract as search::run_search (budget checks, result fields, events "start", "step",
/// "prune", "done"). Interrupted on ctx.should_stop() (no state is kept: a resume starts over, with
/// the same result).
search::SearchResult prune_peft_search(model::T5Model backbone, const text::Tokenizer& tokenizer,
                                       const data::TaskData& task, const search::SpaceOptions& space,
                                       const search::SearchOptions& options, double budget, const RunContext& ctx);

}  // namespace bipeft::baselines
