#pragma once
// The BIPEFT search (ALGORITHM.md §5-§10 with the §0 decisions): alternating architecture steps on
// the validation half (binary and dimension stages in turn) and weight steps on the training half,
// sensitivity tracking, budget-guided module removal and dimension fixing at each trigger, and the
// final structure after K triggers.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/core/run_context.h"
#include "bipeft/data/task.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/peft/structure.h"
#include "bipeft/search/search_options.h"
#include "bipeft/search/search_state.h"
#include "bipeft/search/space.h"
#include "bipeft/text/tokenizer.h"
#include "bipeft/train/run_state.h"

namespace bipeft::search {

struct SearchResult {
  peft::Structure structure;       // kept modules at their ranks
  // The same modules at the ranks beta chose itself (argmax when each rank was fixed), before the
  // budget fill raised any: what the rank search found, apart from the fill.
  peft::Structure beta_structure;
  double params = 0;               // exact trainable parameters of `structure`
  double budget = 0;
  double space_params = 0;         // the whole supernet at the largest rank
  int64_t triggers = 0, steps = 0, epochs_run = 0;
  bool completed = false;          // all K triggers happened
  int64_t repaired = 0;            // modules removed after the last trigger to meet the budget
  int64_t filled = 0;              // candidate steps the budget fill added above argmax beta
  double seconds = 0;
  std::vector<std::array<double, 3>> curve;  // per step: step, expected parameters E, kept parameters
  std::vector<std::string> warnings;
  nlohmann::json to_json() const;
};

/// One BIPEFT search on `backbone` (modules are attached when it is built and detached when run()
/// returns). `budget` is an absolute parameter count. The constructor builds the supernet, the
/// architecture, the data halves and the optimizers (ConfigError for an impossible budget: below the
/// smallest module, or not below the whole space); run() trains, selects and returns the structure
/// (Interrupted on ctx.should_stop(), NumericError on a non-finite loss). With `checkpointing` the
/// whole search state (a SearchState plus the PEFT and architecture weights, both optimizers,
/// generators, the beta history) is saved every N steps and on a stop request; with resume the search
/// continues from it and ends, on CPU, bit-identical to an uninterrupted run. Run it once.
class Searcher {
 public:
  Searcher(model::T5Model backbone, const text::Tokenizer& tokenizer, const data::TaskData& task,
           const SpaceOptions& space, const SearchOptions& options, double budget, const RunContext& ctx,
           const train::Checkpointing& checkpointing = {});
  ~Searcher();
  Searcher(const Searcher&) = delete;
  Searcher& operator=(const Searcher&) = delete;

  SearchResult run();
  /// Where the search is (after run(): where it ended).
  const SearchState& state() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/// Searcher(...).run().
SearchResult run_search(model::T5Model backbone, const text::Tokenizer& tokenizer, const data::TaskData& task,
                        const SpaceOptions& space, const SearchOptions& options, double budget, const RunContext& ctx,
                        const train::Checkpointing& checkpointing = {});

}  // namespace bipeft::search
