// bipeft search: the BIPEFT structure search (or a baseline: --method) under a parameter budget,
// optionally followed by the retrain of the found structure on the train split (capped by --max-train).
#include <filesystem>
#include <iostream>

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
#include "bipeft/model/t5_weights.h"
#include "bipeft/peft/adapter_io.h"
#include "bipeft/search/budget.h"
#include "bipeft/search/search_outputs.h"
#include "bipeft/search/search_data.h"
#include "bipeft/search/searcher.h"
#include "bipeft/train/trainer.h"
#include "bipeft/train/train_outputs.h"

namespace bipeft::cli {


Command add_search_command(CLI::App& root) {
  struct Opts {
    std::string model, out, budget, space = "s2", method = "bipeft";
    std::string ranks = "1,4,8", positions;
    TaskArgs task;
    search::SearchOptions search;
    int64_t epochs = 0, prune_begin = -1;
    bool cross = false, retrain = false, overwrite = false, no_iterative = false, no_selection = false, no_gumbel = false;
    train::TrainOptions retrain_opts;
    int64_t retrain_epochs = 0;
    double dropout = -1;
    baselines::MethodOptions method_options;
    ResumeArgs resume;
    RuntimeOptions rt;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("search", "BIPEFT: search the best PEFT structure under a parameter budget");
  add_model_option(*app, o->model);
  add_task_options(*app, o->task);
  app->add_option("--budget", o->budget,
                  "Trainable-parameter budget: a count (102600), a ratio of the backbone (1.39e-4), "
                  "per ten-thousand (1.39permyriad) or a percentage (0.0139%)")
      ->required();
  app->add_option("--out", o->out, "Output folder: structure.json, trace.jsonl, summary.json, plots")->required();
  std::string method_help = "Search method (all write the same files; docs/baselines.md):";
  for (const auto& m : baselines::search_methods()) {
    method_help += "\n  " + m.name;
    if (!m.aliases.empty()) method_help += " (" + join(m.aliases, ", ") + ")";
    method_help += ": " + m.summary;
  }
  app->add_option("--method", o->method, method_help)->capture_default_str();
  app->add_option("--space", o->space, "Search space: s2 (LoRA, Adapter-LR, BitFit, LNFit), s1 (serial/parallel "
                                        "adapters, prefix), or a list of methods (lora,bitfit)")
      ->capture_default_str();
  app->add_option("--ranks", o->ranks, "Candidate ranks D")->capture_default_str();
  app->add_flag("--cross-attention", o->cross, "Also search cross-attention positions (beyond the paper)");
  app->add_option("--positions", o->positions,
                  "Only these positions of the space, comma-separated (e.g. q,v,wo for LoRA; default: all)");
  auto& s = o->search;
  app->add_option("--epochs", o->epochs, "Search epoch cap (default: per task, ALGORITHM.md §11.4)")->check(whole_number(1));
  app->add_option("--prune-begin-epoch", o->prune_begin, "0-based epoch from which triggers count (default: per task)")
      ->check(whole_number(0));
  app->add_option("--max-triggers", s.max_triggers, "K: triggers until the search stops")->capture_default_str();
  app->add_option("--window", s.window, "T: indicators compared by the trigger")->capture_default_str();
  app->add_option("--threshold", s.threshold, "gamma: trigger stability threshold")->capture_default_str();
  add_selection_options(*app, s);
  app->add_option("--batch", s.batch_size, "Batch size of both search halves")->capture_default_str();
  app->add_option("--lr", s.lr, "AdamW learning rate of PEFT weights")->capture_default_str();
  app->add_option("--arch-lr", s.arch_lr, "Adam learning rate of architecture logits")->capture_default_str();
  app->add_option("--max-train", s.max_train_examples, "Use at most N training examples (0 = all): half for each search half, all N for the retrain")
      ->capture_default_str();
  app->add_option("--log-every", s.log_every, "Trace a step line every N steps")->capture_default_str();
  app->add_option("--trials", o->method_options.autopeft.trials, "autopeft: configurations trained in all")
      ->check(whole_number(2))
      ->capture_default_str();
  app->add_option("--trial-epochs", o->method_options.autopeft.trial_epochs, "autopeft: epochs per trial")
      ->check(whole_number(1))
      ->capture_default_str();
  auto& ada = o->method_options.adalora;
  app->add_option("--adalora-delta-t", ada.delta_t, "adalora: steps between two budget masks")
      ->check(whole_number(1))
      ->capture_default_str();
  app->add_option("--adalora-orth-reg", ada.orth_reg, "adalora: weight of the orthogonality term")->capture_default_str();
  app->add_option("--adalora-final-steps", ada.final_steps,
                  "adalora: steps trained with the fixed rank pattern after the budget is reached")
      ->check(whole_number(0))
      ->capture_default_str();
  app->add_option("--adalora-beta1", ada.beta1, "adalora: EMA factor of the sensitivity")->capture_default_str();
  app->add_option("--adalora-beta2", ada.beta2, "adalora: EMA factor of the uncertainty")->capture_default_str();
  app->add_flag("--no-iterative", o->no_iterative, "Ablation: entangled single-stage space {0} U D, no alpha for ranks");
  app->add_flag("--no-early-selection", o->no_selection, "Ablation: no sensitivity/trigger/pruning; argmax at the end");
  app->add_flag("--no-gumbel", o->no_gumbel, "Ablation: soft softmax mixture instead of hard Gumbel samples");
  app->add_flag("--retrain", o->retrain, "Train the found structure from scratch on the train split (the first --max-train rows, as bipeft train)");
  app->add_option("--retrain-epochs", o->retrain_epochs, "Retrain epochs (default: the search epoch cap)")
      ->check(whole_number(1));
  app->add_option("--retrain-batch", o->retrain_opts.batch_size, "Retrain batch size")
      ->check(whole_number(1))
      ->capture_default_str();
  app->add_option("--retrain-lr", o->retrain_opts.lr, "Retrain learning rate")->capture_default_str();
  add_decoding_option(*app, o->retrain_opts.decoding);
  app->add_option("--eval-every", o->retrain_opts.eval_every, "Retrain: evaluate on dev every N epochs")
      ->check(whole_number(1))
      ->capture_default_str();
  app->add_option("--dropout", o->dropout, "Override the model's dropout_rate");
  app->add_flag("--overwrite", o->overwrite, "Write into a non-empty --out");
  add_resume_options(*app, o->resume);
  add_runtime_options(*app, o->rt);
  add_dist_options(*app, o->rt);
  return {app, [o, app]() {
            if (auto code = launch_local_workers(o->rt, "search")) return *code;
            auto ctx = make_run_context(o->rt, "search");
            const AutocastScope mixed_precision(ctx.device, autocast_requested(o->rt, ctx));
            join_workers(ctx, o->rt, o->resume, "search");
            try {
              o->method = baselines::canonical_search_method(o->method);
            } catch (const ConfigError& e) {
              throw ConfigError(std::string("--method: ") + e.what());
            }
            auto& method_options = o->method_options;
            if (app->count("--arch-lr") > 0) method_options.s3delta.alpha_lr = o->search.arch_lr;
            method_options.s3delta.validate();
            method_options.autopeft.validate();
            try {
              method_options.adalora.validate();
            } catch (const ConfigError& e) {
              throw ConfigError(std::string("--adalora-*: ") + e.what());
            }
            auto& s = o->search;
            s.ranks = parse_int_list(o->ranks, "--ranks");
            s.iterative = !o->no_iterative;
            s.early_selection = !o->no_selection;
            s.gumbel = !o->no_gumbel;
            const auto task = data::load_task(o->task.task, o->task.data, task_options(o->task, o->rt.seed));
            const int64_t half_rows = static_cast<int64_t>(task.search_train.size());
            const auto schedule = search::default_search_schedule(
                task.name, s.max_train_examples > 0 ? std::min(half_rows, s.max_train_examples / 2) : half_rows, s,
                o->epochs, o->prune_begin);
            s.epochs = schedule.epochs;
            s.prune_begin_epoch = schedule.prune_begin;
            if (o->epochs == 0 && schedule.epochs > schedule.paper_epochs)
              ctx.info("search epoch cap " + std::to_string(schedule.epochs) + " (the task's " +
                       std::to_string(schedule.paper_epochs) + " are too few steps for " +
                       std::to_string(s.max_triggers) + " triggers on " + std::to_string(half_rows) + " rows)");
            s.validate();
            auto backbone = load_backbone(o->model, ctx);
            if (o->dropout >= 0) backbone->set_dropout(o->dropout);
            auto tokenizer = text::Tokenizer::from_model_dir(o->model);
            const auto budget = search::parse_budget(o->budget, backbone->num_parameters());
            ctx.info("budget " + budget.describe(backbone->num_parameters()));
            search::SpaceOptions space;
            space.space = o->space;
            space.ranks = s.ranks;
            space.cross_attention = o->cross;
            space.positions = parse_name_list(o->positions);
            // Everything the run would refuse is checked before --out is touched.
            try {
              search::build_space(space, backbone->sites());
            } catch (const OptionError&) {
              throw;  // names its own field (--positions, --ranks)
            } catch (const ConfigError& e) {
              throw ConfigError("--space '" + o->space + "': " + e.what());
            }
            search::measure_space(backbone, space, baselines::method_ranks(o->method, s.ranks)).check_budget(budget.params);
            nlohmann::json options = {{"model", o->model},   {"task", task.name},     {"data", o->task.data},
                                      {"format", o->task.format}, {"max_test", o->task.max_test}, {"seed", o->rt.seed}, {"budget", o->budget},
                                      {"budget_params", budget.params}, {"space", o->space},
                                      {"cross_attention", o->cross}, {"search", s.to_json()}, {"retrain", o->retrain},
                                      {"method", o->method}};
            if (o->method == "autopeft")
              options["autopeft"] = {{"trials", method_options.autopeft.trials},
                                     {"trial_epochs", method_options.autopeft.trial_epochs}};
            if (o->method == "adalora")
              options["adalora"] = {{"delta_t", method_options.adalora.delta_t},
                                    {"orth_reg", method_options.adalora.orth_reg},
                                    {"final_steps", method_options.adalora.final_steps},
                                    {"beta1", method_options.adalora.beta1},
                                    {"beta2", method_options.adalora.beta2}};
            if (o->retrain) {
              o->retrain_opts.epochs = o->retrain_epochs > 0 ? o->retrain_epochs : (o->epochs > 0 ? o->epochs : schedule.paper_epochs);
              // The rows `bipeft train --max-train N` would train on, so a retrain and a manual baseline of the same
              // flags see the same data (it trained on the whole split before: 2,210 rows against 2,000 in the demo).
              o->retrain_opts.max_train_examples = s.max_train_examples;
              try {
                o->retrain_opts.validate();
              } catch (const ConfigError& e) {
                throw ConfigError(std::string("retrain options (--retrain-*): ") + e.what());
              }
              options["retrain_options"] = o->retrain_opts.to_json();
            }
            o->out = prepare_run_dir(output_dir_of_rank(ctx, o->out), o->overwrite, o->resume, "search", options, "summary.json");
            const auto path = [&](const std::string& f) { return (std::filesystem::path(o->out) / f).string(); };
            const auto search_ck = checkpointing(o->out, "search_state.safetensors", o->resume);
            const auto retrain_ck = checkpointing(o->out, "retrain_state.safetensors", o->resume);
            if (o->resume.resuming()) {
              train::rewind_log(path("trace.jsonl"), search_ck.path, "search");
              if (o->retrain) train::rewind_log(path("retrain_log.jsonl"), retrain_ck.path, "train");
            } else {
              io::write_json_atomic(path("config.json"), run_header("search", options));
              for (const char* f : {"trace.jsonl", "retrain_log.jsonl"}) std::remove(path(f).c_str());
              std::remove(search_ck.path.c_str());
              std::remove(retrain_ck.path.c_str());
            }
            ctx.events = std::make_shared<io::JsonlWriter>(path("trace.jsonl"));
            auto result = baselines::run_search_method(o->method, backbone, tokenizer, task, space, s, method_options,
                                                       budget.params, ctx, search_ck);

            const int64_t backbone_params = backbone->num_parameters();
            search::SearchOutputInfo out_info;
            out_info.task = task.name;
            out_info.space = o->space;
            out_info.method = o->method;
            out_info.backbone_params = backbone_params;
            out_info.ranks = s.ranks;
            search::write_search_outputs(o->out, result, out_info, backbone->sites());
            ctx.info("found " + std::to_string(result.structure.modules.size()) + " modules, " +
                     std::to_string(static_cast<int64_t>(result.params)) + " parameters (" +
                     std::to_string(1e4 * result.params / static_cast<double>(backbone_params)) + "\u2031), " +
                     std::to_string(result.triggers) + " triggers, " + std::to_string(result.seconds) + " s");
            nlohmann::json summary = {{"task", task.name},
                                      {"method", o->method},
                                      {"budget", budget.params},
                                      {"budget_given", o->budget},
                                      {"search", result.to_json()},
                                      {"search_seconds", result.seconds},
                                      {"backbone_params", backbone_params}};
            if (o->retrain) {
              auto& ro = o->retrain_opts;
              auto rctx = ctx;
              rctx.events = std::make_shared<io::JsonlWriter>(path("retrain_log.jsonl"));
              peft::PeftModel model(backbone, result.structure, o->rt.seed);
              auto trained = train::train_model(*model, tokenizer, task, ro, rctx, retrain_ck);
              peft::save_native_adapter(*model, path("adapter"), {{"base_model", o->model}, {"task", task.name}});
              const double retrain_seconds = trained.train_seconds + trained.eval_seconds;
              summary["retrain"] = trained.to_json();
              summary["retrain_seconds"] = retrain_seconds;
              summary["search_to_retrain"] = retrain_seconds > 0 ? result.seconds / retrain_seconds : 0.0;
              // The schema of bipeft train's scores.json (with the constant answer to read the test score against).
              io::write_json_atomic(path("scores.json"), train::scores_document(*model, task, trained, ro.eval_test));
            }
            io::write_json_atomic(path("summary.json"), summary);
            std::remove(search_ck.path.c_str());  // the run is complete: summary.json marks it
            std::remove(retrain_ck.path.c_str());
            std::cout << nlohmann::json{{"task", task.name},
                                        {"params", result.params},
                                        {"budget", budget.params},
                                        {"modules", result.structure.modules.size()},
                                        {"triggers", result.triggers},
                                        {"out", o->out},
                                        {"scores", summary.contains("retrain") ? summary["retrain"]["test"] : nlohmann::json()}}
                             .dump()
                      << std::endl;
            return 0;
          }};
}

}  // namespace bipeft::cli
