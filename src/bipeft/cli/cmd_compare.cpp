// bipeft compare: every method (BIPEFT, the search baselines, manual PEFT methods) on every task and
// seed, on the same engine, data and budget; writes the paper-style tables (Markdown + JSON) and a
// chart. Each (task, method, seed) cell lives in OUT/cells/<task>/<method>/seed-<s>/ and is done once:
// a resumed compare loads finished cells and continues unfinished ones from their own checkpoints.
#include <algorithm>
#include <filesystem>
#include <map>
#include <iostream>

#include "bipeft/baselines/compare_grid.h"
#include "bipeft/baselines/comparison.h"
#include "bipeft/baselines/search_method.h"
#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/cli/workers.h"
#include "bipeft/io/jsonl_writer.h"
#include "bipeft/cli/number_checks.h"
#include "bipeft/cli/resume.h"
#include "bipeft/cli/run_header.h"
#include "bipeft/core/autocast.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/peft/structure.h"
#include "bipeft/search/budget.h"
#include "bipeft/search/search_data.h"

namespace bipeft::cli {

namespace {

namespace fs = std::filesystem;

/// The folder of `task` under `root`: root/<name>, root/<GLUE name>, root/glue/<GLUE name>, or the
/// SuperGLUE equivalents. ConfigError listing what was tried.
std::string task_dir(const std::string& root, const std::string& task) {
  static const std::map<std::string, std::vector<std::string>> names = {
      {"rte", {"RTE"}},   {"mrpc", {"MRPC"}},   {"cola", {"CoLA"}},  {"stsb", {"STS-B"}}, {"sst2", {"SST-2"}},
      {"qnli", {"QNLI"}}, {"qqp", {"QQP"}},     {"mnli", {"MNLI"}},  {"superglue-rte", {"RTE"}},
      {"boolq", {"BoolQ"}}, {"cb", {"CB"}},     {"wic", {"WiC"}},    {"multirc", {"MultiRC"}},
      {"record", {"ReCoRD"}}, {"copa", {"COPA"}}, {"wsc", {"WSC"}}, {"imdb", {"IMDB"}}};
  std::vector<std::string> tried = {root + "/" + task};
  auto it = names.find(task);
  if (it != names.end())
    for (const auto& n : it->second) {
      const bool superglue = task == "superglue-rte" || task == "boolq" || task == "cb" || task == "wic" ||
                             task == "multirc" || task == "record" || task == "copa" || task == "wsc";
      if (!superglue) tried.push_back(root + "/" + n);
      tried.push_back(root + (superglue ? "/superglue/" : "/glue/") + n);
    }
  for (const auto& d : tried)
    if (io::is_dir(d)) return d;
  throw ConfigError("--data " + root + ": no folder for task " + task + " (tried " + join(tried, ", ") + ")");
}

// "I/N" -> (I, N) with 0 <= I < N; "" -> (0, 1).
std::pair<int64_t, int64_t> parse_shard(const std::string& text) {
  if (text.empty()) return {0, 1};
  const auto slash = text.find('/');
  auto whole = [&](const std::string& t, int64_t* v) {
    size_t used = 0;
    try {
      *v = std::stoll(t, &used);
    } catch (const std::exception&) {
      return false;
    }
    return !t.empty() && used == t.size();
  };
  int64_t i = -1, n = 0;
  if (slash == std::string::npos || !whole(text.substr(0, slash), &i) || !whole(text.substr(slash + 1), &n) || n < 1 ||
      i < 0 || i >= n)
    throw ConfigError("--shard '" + text + "' must be I/N with 0 <= I < N, e.g. 0/2 and 1/2 for two processes");
  return {i, n};
}

}  // namespace

Command add_compare_command(CLI::App& root) {
  struct Opts {
    std::string model, out, budget, data, space = "s2", ranks = "1,4,8", positions;
    std::vector<std::string> tasks, methods{"bipeft", "s3delta", "prunepeft", "adalora", "random", "lora", "bitfit", "constant"};
    int64_t seeds = 3, epochs = 0, retrain_epochs = 0, max_train = 0, max_test = 0, batch = 32, manual_rank = 8, max_triggers = 100;
    double lr = 3e-4, retrain_lr = 3e-4, dropout = -1;
    int64_t trigger_gap = search::SearchOptions{}.trigger_gap;
    eval::Decoding decoding = eval::Decoding::Generate;
    std::string format = "paper", shard;
    bool overwrite = false, no_adapters = false;
    ResumeArgs resume;
    RuntimeOptions rt;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("compare", "Run BIPEFT, the baselines and manual PEFT on tasks x seeds; write tables");
  add_model_option(*app, o->model);
  app->add_option("--tasks", o->tasks, "Tasks (rte,mrpc,cola,stsb,sst2,...)")->required()->delimiter(',');
  app->add_option("--data", o->data, "Folder holding one folder per task (rte/ or RTE/ or glue/RTE/ ...)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app->add_option("--budget", o->budget, "Parameter budget of the search methods (count, ratio, ‱ or %)")->required();
  app->add_option("--out", o->out, "Output folder: table1.md, table3.md, results.json, scores.svg, cells/")->required();
  app->add_option("--methods", o->methods,
                  "Methods: search methods (bipeft, s3delta, prunepeft, autopeft, adalora, random), manual ones (lora, adapter, "
                  "adapter-lr, parallel-adapter, prefix, bitfit, lnfit, full) and constant (the best single answer on "
                  "dev, scored on test: the reference row)")
      ->delimiter(',')
      ->capture_default_str();
  app->add_option("--seeds", o->seeds, "Seeds per cell: --seed, --seed+1, ...")->check(whole_number(1, 100))->capture_default_str();
  app->add_option("--space", o->space, "Search space of the search methods")->capture_default_str();
  app->add_option("--positions", o->positions, "Only these positions of the space (e.g. q,v,wo; default: all)");
  app->add_option("--ranks", o->ranks, "Candidate ranks of the search methods")->capture_default_str();
  app->add_option("--epochs", o->epochs, "Search epochs (default: per task, ALGORITHM.md §11.4)")->check(whole_number(1));
  app->add_option("--retrain-epochs", o->retrain_epochs, "Training epochs of every method (default: the search epochs)")
      ->check(whole_number(1));
  app->add_option("--max-triggers", o->max_triggers, "BIPEFT: K, triggers until the search stops")
      ->check(whole_number(1))
      ->capture_default_str();
  app->add_option("--max-train", o->max_train, "Use at most N training examples (0 = all)")
      ->check(whole_number(0))
      ->capture_default_str();
  app->add_option("--max-test", o->max_test, "Score a fixed subset of N test rows, the same for every seed (0 = all)")
      ->check(whole_number(0))
      ->capture_default_str();
  app->add_option("--batch", o->batch, "Batch size (search and training)")->check(whole_number(1))->capture_default_str();
  app->add_option("--lr", o->lr, "Learning rate of PEFT weights during the search")->capture_default_str();
  app->add_option("--retrain-lr", o->retrain_lr, "Learning rate of every method's training")->capture_default_str();
  add_decoding_option(*app, o->decoding);
  add_trigger_gap_option(*app, o->trigger_gap);
  app->add_option("--manual-rank", o->manual_rank, "Rank of the manual ranked methods (lora, adapter, ...)")
      ->check(whole_number(1, 4096))
      ->capture_default_str();
  app->add_option("--format", o->format, "Text-to-text format: paper or t5")->capture_default_str();
  app->add_option("--dropout", o->dropout, "Override the model's dropout_rate");
  app->add_flag("--no-adapters", o->no_adapters,
                "Keep no trained adapters (by default each PEFT cell keeps its best-dev adapter in cells/TASK/METHOD/seed-N/adapter; "
                "full fine-tuning cells never keep the model)");
  app->add_flag("--overwrite", o->overwrite, "Write into a non-empty --out (its old cells are deleted)");
  app->add_option("--shard", o->shard,
                  "I/N: compute only cells I, I+N, I+2N, ... (0-based, in run order) so N processes or machines "
                  "share one --out: start shard 0 as a new run, the others with --resume OUT --shard I/N. Each "
                  "loads the cells the others finished; the shard that finds every cell done writes the tables");
  add_resume_options(*app, o->resume);
  add_runtime_options(*app, o->rt);
  add_dist_options(*app, o->rt);
  return {app, [o]() {
            if (auto code = launch_local_workers(o->rt, "compare")) return *code;
            auto ctx = make_run_context(o->rt, "compare");
            const AutocastScope mixed_precision(ctx.device, autocast_requested(o->rt, ctx));
            join_workers(ctx, o->rt, o->resume, "compare");
            const auto [shard, shards] = parse_shard(o->shard);
            if (o->dropout != -1 && !(o->dropout >= 0 && o->dropout < 1))
              throw ConfigError("--dropout " + std::to_string(o->dropout) + " must be in [0, 1)");
            // Everything is checked before --out is touched: tasks and their folders, methods, options,
            // the model, the budget against every search method's space.
            std::vector<std::string> tasks, methods;
            std::map<std::string, std::string> dirs;
            for (const auto& t : o->tasks) {
              const auto name = data::canonical_task_name(t);
              if (std::find(tasks.begin(), tasks.end(), name) != tasks.end())
                throw ConfigError("--tasks: " + name + " is listed twice");
              tasks.push_back(name);
              dirs[name] = task_dir(o->data, name);
            }
            auto backbone0 = load_backbone(o->model, ctx);
            const auto sites = backbone0->sites();
            for (const auto& m : o->methods) {
              std::string name;
              if (baselines::is_search_method(m)) {
                name = baselines::canonical_search_method(m);
              } else if (m == "constant") {
                name = m;  // the constant answer chosen on dev: the reference row
              } else {
                try {
                  peft::manual_structure({m}, o->manual_rank, {}, sites);
                } catch (const ConfigError& e) {
                  throw ConfigError("--methods: '" + m + "' is neither a search method (" +
                                    join(baselines::search_method_names(), ", ") + ") nor a manual one: " + e.what());
                }
                name = m;
              }
              if (std::find(methods.begin(), methods.end(), name) != methods.end())
                throw ConfigError("--methods: " + name + " is listed twice");
              methods.push_back(name);
            }
            data::TaskOptions topts;
            topts.format = data::parse_prompt_format(o->format);
            topts.max_test = o->max_test;
            search::SearchOptions so;
            so.ranks = parse_int_list(o->ranks, "--ranks");
            so.batch_size = o->batch;
            so.lr = o->lr;
            so.max_train_examples = o->max_train;
            so.max_triggers = o->max_triggers;
            so.trigger_gap = o->trigger_gap;
            train::TrainOptions to;
            to.batch_size = o->batch;
            to.lr = o->retrain_lr;
            to.max_train_examples = o->max_train;
            to.eval_test = true;
            to.decoding = o->decoding;
            so.epochs = o->epochs > 0 ? o->epochs : 1;
            so.prune_begin_epoch = 0;  // per task at run time
            so.validate();
            to.epochs = o->retrain_epochs > 0 ? o->retrain_epochs : 1;
            to.validate();
            const auto budget = search::parse_budget(o->budget, backbone0->num_parameters());
            search::SpaceOptions space;
            space.space = o->space;
            space.positions = parse_name_list(o->positions);
            space.ranks = so.ranks;
            for (const auto& m : methods)
              if (baselines::is_search_method(m)) {
                try {
                  search::measure_space(backbone0, space, baselines::method_ranks(m, so.ranks)).check_budget(budget.params);
                } catch (const OptionError& e) {
                  throw ConfigError("--budget " + o->budget + " for --methods " + m + ": " + e.what());
                } catch (const ConfigError& e) {
                  throw ConfigError("--methods " + m + ": " + e.what());
                }
              }
            const int64_t backbone_params = backbone0->num_parameters();
            backbone0 = nullptr;
            nlohmann::json options = {{"model", o->model},     {"tasks", tasks},       {"data", o->data},
                                      {"budget", o->budget},   {"budget_params", budget.params},
                                      {"methods", methods},    {"seeds", o->seeds},    {"seed", o->rt.seed},
                                      {"space", o->space}, {"positions", space.positions},     {"ranks", so.ranks},    {"epochs", o->epochs},
                                      {"retrain_epochs", o->retrain_epochs},           {"max_train", o->max_train}, {"max_test", o->max_test},
                                      {"max_triggers", o->max_triggers},
                                      {"batch", o->batch},     {"lr", o->lr},          {"retrain_lr", o->retrain_lr},
                                      {"manual_rank", o->manual_rank},                 {"format", o->format},
                                      {"dropout", o->dropout}};
            // Only when not the default, so that grids saved before the flag still resume.
            if (o->decoding != eval::Decoding::Generate) options["decoding"] = eval::decoding_name(o->decoding);
            if (o->no_adapters) options["keep_adapters"] = false;
            // Grids saved before the flag ran BIPEFT with the code's rule (0).
            if (o->trigger_gap != 0) options["trigger_gap"] = o->trigger_gap;
            o->out = prepare_run_dir(output_dir_of_rank(ctx, o->out), o->overwrite, o->resume, "compare", options, "results.json");
            const auto path = [&](const std::string& f) { return (fs::path(o->out) / f).string(); };
            if (!o->resume.resuming()) {
              std::error_code ec;
              fs::remove_all(path("cells"), ec);
              std::remove(path("log.jsonl").c_str());
              io::write_json_atomic(path("config.json"), run_header("compare", options));
            }
            // Shards run at the same time: each appends to its own log.
            auto log = std::make_shared<io::JsonlWriter>(path(shard == 0 ? "log.jsonl" : "log.shard-" + std::to_string(shard) + ".jsonl"));
            log->write({{"event", o->resume.resuming() ? "resume" : "start"}, {"options", options}});
            ctx.events = log;

            baselines::CompareGrid grid;
            grid.model_dir = o->model;
            grid.tasks = tasks;
            grid.task_dirs = dirs;
            grid.methods = methods;
            grid.seeds = o->seeds;
            grid.task_options = topts;
            grid.space = space;
            grid.search = so;
            grid.search_epochs = o->epochs;
            grid.train = to;
            grid.retrain_epochs = o->retrain_epochs;
            grid.manual_rank = o->manual_rank;
            grid.dropout = o->dropout;
            grid.budget_params = budget.params;
            grid.title = "budget " + budget.describe(backbone_params);
            grid.backbone_params = backbone_params;
            grid.keep_adapters = !o->no_adapters;
            const auto outcome = baselines::run_compare_grid(grid, {o->out, shard, shards, o->resume.every}, ctx);
            if (!outcome.tables_written) {
              ctx.info("shard " + std::to_string(shard) + "/" + std::to_string(shards) + " done; " +
                       std::to_string(outcome.missing) + " cells are left to the other shards (the last shard to finish "
                       "writes the tables; `bipeft compare --resume " + o->out + "` writes them too, computing what is missing)");
              std::cout << nlohmann::json{{"out", o->out}, {"cells", outcome.cells.size()}, {"computed", outcome.computed},
                                          {"missing", outcome.missing}}.dump()
                        << std::endl;
              return 0;
            }
            ctx.info("wrote table1.md, table3.md, scores.svg and results.json to " + o->out);
            std::cout << nlohmann::json{{"out", o->out}, {"cells", outcome.cells.size()}, {"computed", outcome.computed}}.dump()
                      << std::endl;
            return 0;
          }};
}

}  // namespace bipeft::cli
