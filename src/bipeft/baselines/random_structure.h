#pragma once
// The random baseline: a structure of (about) the budget's size drawn at random from the same space,
// no training. Modules are visited in a seeded random order, each at a random candidate rank, and
// kept when it still fits the budget; the walk repeats at smaller ranks until nothing fits.
#include "bipeft/search/searcher.h"

namespace bipeft::baselines {

/// Same contract as search::run_search (the same budget checks and result fields; curve and triggers
/// stay empty). Deterministic in ctx.seed.
search::SearchResult random_structure(model::T5Model backbone, const search::SpaceOptions& space,
                                      const search::SearchOptions& options, double budget, const RunContext& ctx);

}  // namespace bipeft::baselines
