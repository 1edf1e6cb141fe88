#include "bipeft/baselines/compare_grid.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>

#include "bipeft/baselines/search_method.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/core/timer.h"
#include "bipeft/eval/constant_answer.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/io/jsonl_writer.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/peft/adapter_io.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/peft/structure.h"
#include "bipeft/search/search_options.h"
#include "bipeft/train/trainer.h"

namespace bipeft::baselines {

namespace {


// The constant answer chosen on dev: no training.
CellResult constant_cell(CellResult cell, const data::TaskData& task) {
  const auto constant = eval::constant_answer(task, task.dev, task.test);
  cell.dev = constant.chosen_primary();
  cell.test = constant.primary();
  cell.dev_metrics = {{"prediction", constant.prediction}, {"metrics", constant.chosen_metrics}};
  cell.test_metrics = {{"prediction", constant.prediction}, {"metrics", constant.metrics}};
  return cell;
}

// The seconds of the search a cell's trace ends with ("done" event), 0 when it has none (structure.json
// stays free of timings, so two runs' structures compare equal).
double finished_search_seconds(const std::string& trace) {
  std::ifstream in(trace);
  double seconds = 0;
  for (std::string line; std::getline(in, line);) {
    const auto e = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (e.is_object() && e.value("event", "") == "done" && e.contains("result") && e["result"].is_object())
      seconds = e["result"].value("seconds", 0.0);
  }
  return seconds;
}

// A search (search methods) or a manual structure, then training; the cell's logs and states in `dir`.
CellResult trained_cell(CellResult cell, const CompareGrid& g, const GridShare& share, const data::TaskData& task,
                        const std::string& dir, const RunContext& ctx) {
  auto cctx = ctx;
  cctx.seed = cell.seed;
  auto backbone = model::load_t5(g.model_dir, ctx);
  if (g.dropout >= 0) backbone->set_dropout(g.dropout);
  auto tok = text::Tokenizer::from_model_dir(g.model_dir);
  auto sopts = g.search;
  const int64_t half_rows = static_cast<int64_t>(task.search_train.size());
  const auto schedule = search::default_search_schedule(
      cell.task, g.search.max_train_examples > 0 ? std::min(half_rows, g.search.max_train_examples / 2) : half_rows,
      g.search, g.search_epochs);
  sopts.epochs = schedule.epochs;
  sopts.prune_begin_epoch = schedule.prune_begin;
  auto topts = g.train;
  topts.epochs = g.retrain_epochs > 0 ? g.retrain_epochs : (g.search_epochs > 0 ? g.search_epochs : schedule.paper_epochs);
  peft::Structure structure;
  const auto structure_file = dir + "/structure.json";
  if (is_search_method(cell.method) && io::is_file(structure_file)) {
    // The search finished before the cell was interrupted (in its training): the same structure, without
    // a second search. structure.json is written atomically, so it is whole or absent.
    structure = peft::Structure::from_json(io::read_json_file(structure_file), structure_file);
    cell.searched = true;
    cell.search_seconds = finished_search_seconds(dir + "/trace.jsonl");
  } else if (is_search_method(cell.method)) {
    const auto ck = train::Checkpointing::at(dir, "search_state.safetensors", share.checkpoint_every, true);
    train::rewind_log(dir + "/trace.jsonl", ck.path, "search");  // emptied when there is no state
    cctx.events = std::make_shared<io::JsonlWriter>(dir + "/trace.jsonl");
    SearchRequest request{backbone, &tok, &task, g.space, sopts, {}, g.budget_params};
    auto found = run_search_method(cell.method, request, cctx, ck);
    structure = found.structure;
    cell.searched = true;
    cell.search_seconds = found.seconds;
    auto sj = structure.to_json();
    sj["trainable_params"] = found.params;
    io::write_json_atomic(structure_file, sj);
  } else {
    structure = peft::manual_structure({cell.method}, g.manual_rank, {}, backbone->sites());
  }
  const auto tck = train::Checkpointing::at(dir, "train_state.safetensors", share.checkpoint_every, true);
  train::rewind_log(dir + "/train_log.jsonl", tck.path, "train");
  cctx.events = std::make_shared<io::JsonlWriter>(dir + "/train_log.jsonl");
  peft::PeftModel model(backbone, structure, cell.seed);
  auto trained = train::train_model(*model, tok, task, topts, cctx, tck);
  if (g.keep_adapters && !structure.full_finetune)
    peft::save_native_adapter(*model, dir + "/adapter",
                              {{"base_model", g.model_dir}, {"task", cell.task}, {"method", cell.method}, {"seed", cell.seed}});
  cell.trainable_params = static_cast<double>(model->trainable_count());
  cell.retrain_seconds = trained.train_seconds + trained.eval_seconds;
  cell.dev = trained.best_dev.primary();
  cell.test = trained.test.primary();
  cell.dev_metrics = trained.best_dev.to_json();
  cell.test_metrics = trained.test.to_json();
  return cell;
}

// Every cell of the grid that has a result.json under `out`; `missing` counts the others.
std::vector<CellResult> finished_cells(const CompareGrid& g, const std::string& out, uint64_t first_seed,
                                       int64_t* missing) {
  std::vector<CellResult> cells;
  *missing = 0;
  for (int64_t k = 0; k < g.seeds; ++k)
    for (const auto& task_name : g.tasks)
      for (const auto& method : g.methods) {
        const auto f = cell_dir(out, task_name, method, first_seed + static_cast<uint64_t>(k)) + "/result.json";
        if (io::is_file(f)) cells.push_back(CellResult::from_json(io::read_json_file(f), f));
        else ++*missing;
      }
  return cells;
}

void write_tables(const ComparisonReport& report, const std::string& out) {
  io::write_file_atomic(io::join_path(out, "table1.md"), report.table1_markdown);
  io::write_file_atomic(io::join_path(out, "table3.md"), report.table3_markdown);
  io::write_file_atomic(io::join_path(out, "scores.svg"), report.chart_svg);
  io::write_json_atomic(io::join_path(out, "results.json"), report.json);
}

}  // namespace

void CompareGrid::validate() const {
  if (tasks.empty()) throw ConfigError("compare grid: tasks is empty; name at least one task");
  if (methods.empty()) throw ConfigError("compare grid: methods is empty; name at least one method");
  if (seeds < 1) throw ConfigError("compare grid: seeds is " + std::to_string(seeds) + "; it must be at least 1");
  if (dropout != -1 && !(dropout >= 0 && dropout < 1))
    throw ConfigError("compare grid: dropout " + std::to_string(dropout) + " must be in [0, 1) (or -1 to keep the model's)");
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (std::find(tasks.begin(), tasks.begin() + static_cast<std::ptrdiff_t>(i), tasks[i]) != tasks.begin() + static_cast<std::ptrdiff_t>(i))
      throw ConfigError("compare grid: tasks lists " + tasks[i] + " twice");
    if (!task_dirs.count(tasks[i])) throw ConfigError("compare grid: task_dirs has no folder for task " + tasks[i]);
  }
  for (size_t i = 0; i < methods.size(); ++i)
    if (std::find(methods.begin(), methods.begin() + static_cast<std::ptrdiff_t>(i), methods[i]) !=
        methods.begin() + static_cast<std::ptrdiff_t>(i))
      throw ConfigError("compare grid: methods lists " + methods[i] + " twice");
  search.validate();
  train.validate();
}

std::string cell_dir(const std::string& out, const std::string& task, const std::string& method, uint64_t seed) {
  return io::join_path(out, "cells/" + task + "/" + method + "/seed-" + std::to_string(seed));
}

GridOutcome run_compare_grid(const CompareGrid& g, const GridShare& share, const RunContext& ctx) {
  g.validate();
  if (share.shards < 1 || share.shard < 0 || share.shard >= share.shards)
    throw ConfigError("compare grid: shard " + std::to_string(share.shard) + " of " + std::to_string(share.shards) +
                      " must satisfy 0 <= shard < shards");
  const int64_t backbone_params =
      g.backbone_params > 0 ? g.backbone_params : model::load_t5(g.model_dir, ctx)->num_parameters();
  GridOutcome out;
  const int64_t total = static_cast<int64_t>(g.tasks.size() * g.methods.size()) * g.seeds;
  int64_t index = 0;
  double computed_seconds = 0;
  // Seed-major order: an interrupted grid has every task and method at the first seeds.
  for (int64_t k = 0; k < g.seeds; ++k) {
    const uint64_t seed = ctx.seed + static_cast<uint64_t>(k);
    for (const auto& task_name : g.tasks) {
      auto topts = g.task_options;
      topts.seed = seed;
      std::optional<data::TaskData> task;
      for (const auto& method : g.methods) {
        ++index;
        const auto dir = cell_dir(share.out, task_name, method, seed);
        const auto result_file = dir + "/result.json";
        const std::string label = "[" + std::to_string(index) + "/" + std::to_string(total) + "] " + task_name + " " +
                                  method + " seed " + std::to_string(seed);
        if (io::is_file(result_file)) {
          out.cells.push_back(CellResult::from_json(io::read_json_file(result_file), result_file));
          ctx.info(label + ": done before (test " + std::to_string(out.cells.back().test) + ")");
          continue;
        }
        if ((index - 1) % share.shards != share.shard) continue;  // another shard's cell
        if (!task) task = data::load_task(task_name, g.task_dirs.at(task_name), topts);
        io::make_dirs(dir);
        CellResult cell;
        cell.task = task_name;
        cell.method = method;
        cell.seed = seed;
        cell.metric = task->metrics.front();
        cell.backbone_params = static_cast<double>(backbone_params);
        if (method == "constant") {
          cell = constant_cell(cell, *task);
          io::write_json_atomic(result_file, cell.to_json());
          out.cells.push_back(cell);
          ctx.info(label + ": constant answer '" + cell.test_metrics.at("prediction").get<std::string>() + "', test " +
                   cell.metric + " " + std::to_string(cell.test));
          continue;
        }
        Timer cell_timer;
        if (out.computed > 0) {
          const double eta = computed_seconds / static_cast<double>(out.computed) *
                             static_cast<double>(total - index + 1) / static_cast<double>(share.shards);
          ctx.info(label + " (about " + format_duration(eta) + " left for the remaining cells)");
        } else {
          ctx.info(label);
        }
        ctx.event({{"event", "cell_start"}, {"task", task_name}, {"method", method}, {"seed", seed}});
        cell = trained_cell(cell, g, share, *task, dir, ctx);
        io::write_json_atomic(result_file, cell.to_json());
        for (const char* f : {"search_state.safetensors", "train_state.safetensors"}) std::remove((dir + "/" + f).c_str());
        out.cells.push_back(cell);
        ++out.computed;
        computed_seconds += cell_timer.seconds();
        ctx.event({{"event", "cell_done"}, {"cell", cell.to_json()}, {"seconds", cell_timer.seconds()}});
        ctx.info(label + ": test " + cell.metric + " " + std::to_string(cell.test) + " (" +
                 format_duration(cell_timer.seconds()) + ")");
      }
    }
  }
  if (share.shards > 1) {
    // Other shards may have finished cells meanwhile: the tables need every cell on disk.
    out.cells = finished_cells(g, share.out, ctx.seed, &out.missing);
    if (out.missing > 0) {
      ctx.event({{"event", "shard_done"}, {"shard", share.shard}, {"shards", share.shards}, {"missing", out.missing}});
      return out;
    }
  }
  write_tables(summarize(out.cells, g.tasks, g.methods, g.title), share.out);
  out.tables_written = true;
  ctx.event({{"event", "done"}, {"cells", out.cells.size()}});
  return out;
}

}  // namespace bipeft::baselines
