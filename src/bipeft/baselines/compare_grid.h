#pragma once
// The grid behind `bipeft compare` as a library call: every (seed, task, method) cell on the same
// engine, data and budget, each done once and kept on disk, so a grid resumes where it stopped and N
// processes (shards) can share one output folder. Output contract, under `out`:
//   cells/<task>/<method>/seed-<s>/result.json       the cell (CellResult::to_json), written last, atomically
//   cells/<task>/<method>/seed-<s>/structure.json    search methods: the found structure + "trainable_params" (a
//                                                    resumed cell that has it trains it without a new search)
//   cells/<task>/<method>/seed-<s>/trace.jsonl       search methods: the search's events
//   cells/<task>/<method>/seed-<s>/train_log.jsonl   every trained method: the training events
//   cells/<task>/<method>/seed-<s>/adapter/          trained PEFT cells (keep_adapters): the best-dev adapter
//   cells/<task>/<method>/seed-<s>/{search,train}_state.safetensors  while a cell runs (removed when done)
//   table1.md, table3.md, scores.svg, results.json   once every cell is done (summarize())
// The grid's own events ("cell_start", "cell_done", "shard_done", "done") go to ctx.events.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bipeft/baselines/comparison.h"
#include "bipeft/core/run_context.h"
#include "bipeft/data/task.h"
#include "bipeft/search/search_options.h"
#include "bipeft/search/space.h"
#include "bipeft/train/train_options.h"

namespace bipeft::baselines {

struct CompareGrid {
  std::string model_dir;                         // a T5 folder (each cell loads it afresh)
  std::vector<std::string> tasks;                // canonical task names, in table order
  std::map<std::string, std::string> task_dirs;  // each task's data folder
  // Search methods (canonical names), manual PEFT methods (structures at manual_rank on every site) or
  // "constant" (the best single answer on dev, the reference row).
  std::vector<std::string> methods;
  int64_t seeds = 3;                 // seeds first_seed, first_seed + 1, ... (first_seed = ctx.seed)
  data::TaskOptions task_options;    // the seed is set per cell
  search::SpaceOptions space;
  search::SearchOptions search;      // epochs and prune_begin_epoch are set per task (search_epochs)
  int64_t search_epochs = 0;         // 0: each task's default schedule (default_search_schedule)
  train::TrainOptions train;         // the epochs are set per task (retrain_epochs)
  int64_t retrain_epochs = 0;        // 0: search_epochs when given, else the task's paper epochs
  int64_t manual_rank = 8;
  double dropout = -1;               // >= 0: replaces the model's dropout_rate
  double budget_params = 0;          // the search methods' budget, a parameter count
  std::string title;                 // the tables' title (e.g. the budget)
  int64_t backbone_params = 0;       // the model's parameter count (0: the grid loads the model to count)
  // Each trained PEFT cell keeps its best-dev adapter (native format) in adapter/ of its folder; full
  // fine-tuning cells keep none (a copy of the whole model each: train one with `bipeft train --method full`).
  bool keep_adapters = true;

  /// ConfigError naming the field when the grid cannot run (no tasks or methods, a method listed twice
  /// or unknown, a task without a folder entry, seeds < 1, an out-of-range dropout).
  void validate() const;
};

/// How this process takes part in a grid.
struct GridShare {
  std::string out;               // the grid's folder (must exist)
  int64_t shard = 0, shards = 1; // compute cells shard, shard + shards, ... (0-based, in run order)
  int64_t checkpoint_every = 50; // steps between a running cell's state saves (0: only on a stop request)
};

struct GridOutcome {
  std::vector<CellResult> cells;  // every finished cell found or computed
  int64_t computed = 0;           // cells this process computed
  int64_t missing = 0;            // cells left to other shards (0 once the tables are written)
  bool tables_written = false;
};

/// The folder of one cell under `out`.
std::string cell_dir(const std::string& out, const std::string& task, const std::string& method, uint64_t seed);

/// Runs this process's share of `grid` in seed-major order (an interrupted grid has every task and
/// method at the first seeds): finished cells (result.json) are loaded, unfinished ones of this shard
/// continue from their own states. When no cell is missing afterwards it writes the tables. Throws
/// Interrupted on ctx.should_stop() (the running cell's state is saved), ConfigError/FormatError for
/// bad inputs or a damaged cell file (naming it).
GridOutcome run_compare_grid(const CompareGrid& grid, const GridShare& share, const RunContext& ctx);

}  // namespace bipeft::baselines
