#pragma once
// Flags shared by many subcommands, declared once: device, dtype, threads, seed, verbosity.
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bipeft/core/run_context.h"
#include "bipeft/data/task.h"
#include "bipeft/eval/decoding.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/search/search_options.h"

namespace bipeft::cli {

struct RuntimeOptions {
  std::string device = "cpu";  // cpu, cuda, cuda:N
  std::string dtype = "f32";    // compute dtype of the backbone: f32, bf16, f16
  std::string autocast = "off"; // --autocast: off, or bf16 mixed precision (core/autocast.h)
  int threads = 0;              // intra-op threads; 0 = all cores
  uint64_t seed = 42;
  bool quiet = false;           // no progress bar or info lines
  int nproc = 0;                // --nproc: local data-parallel workers to start (search, train, compare)
  int dist_timeout = 1800;      // --dist-timeout: seconds to wait for the other workers
};

/// True for --autocast bf16 (ConfigError naming the flag for an unknown value); warns on a CPU run
/// where bf16 products are not expected to be fast.
bool autocast_requested(const RuntimeOptions& o, const RunContext& ctx);

/// Flags naming a task and its data: --task, --data, --format, and the custom-task fields.
struct TaskArgs {
  std::string task;
  std::string data;
  std::string format = "paper";
  std::string text_fields;  // comma-separated
  std::string label_field;
  bool regression = false;
  int64_t max_test = 0;     // --max-test: a fixed subset of the test rows (0 = all)
};

/// Adds --task, --data (required, existing folder), --format, --text-fields, --label-field, --regression,
/// --max-test.
void add_task_options(CLI::App& app, TaskArgs& args);
/// The data::TaskOptions of the flags with `seed`.
data::TaskOptions task_options(const TaskArgs& args, uint64_t seed);

/// Refuses an existing non-empty output folder unless `overwrite` (exit 2 with the fix), then creates it.
void prepare_output_dir(const std::string& dir, bool overwrite);

/// Adds --model DIR (required, must exist).
CLI::Option* add_model_option(CLI::App& app, std::string& dir);
/// Adds --device, --dtype, --threads (and --seed when `with_seed`), --quiet.
void add_runtime_options(CLI::App& app, RuntimeOptions& opts, bool with_seed = true);

/// Applies threads and builds the run context (device/dtype validated: ConfigError on bad values).
/// `task` names the subcommand in log lines.
RunContext make_run_context(const RuntimeOptions& opts, const std::string& task);

/// Loads the T5 checkpoint in `dir` on ctx's device and dtype.
model::T5Model load_backbone(const std::string& dir, const RunContext& ctx);

/// How BIPEFT ranks and removes modules and fixes the last ranks: --criterion, --signed-sensitivity,
/// --ema (ALGORITHM.md §6), --trigger-gap (§7), --alpha-free-triggers (§8.1) and --no-budget-fill.
void add_selection_options(CLI::App& app, search::SearchOptions& s);

/// --trigger-gap N|spread into `gap` (SearchOptions::trigger_gap; spread = search::kTriggerGapSpread).
void add_trigger_gap_option(CLI::App& app, int64_t& gap);

/// --decoding generate|rank: how dev and test predictions are made (eval/decoding.h).
void add_decoding_option(CLI::App& app, eval::Decoding& decoding);

/// A comma list of names ("q,v,wo"), trimmed, empties dropped.
std::vector<std::string> parse_name_list(const std::string& text);

/// "1,4,8" -> {1, 4, 8}; ConfigError naming `flag` when an entry is not an integer.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag);

/// Prints an info line on stderr ("bipeft <task>: ...") unless quiet.
void log_line(const std::string& task, LogLevel level, const std::string& msg);

}  // namespace bipeft::cli
