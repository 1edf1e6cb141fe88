// bipeft train: trains a structure (searched, manual shortcuts or full fine-tuning) on a task and
// writes the best-dev adapter (native format), log.jsonl, scores.json and config.json into --out.
#include <filesystem>
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/cli/workers.h"
#include "bipeft/io/jsonl_writer.h"
#include "bipeft/cli/resume.h"
#include "bipeft/cli/run_header.h"
#include "bipeft/core/autocast.h"
#include "bipeft/core/error.h"
#include "bipeft/io/json_util.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/peft/structure.h"
#include "bipeft/train/train_outputs.h"
#include "bipeft/train/trainer.h"

namespace bipeft::cli {

/// Adds the structure flags (--structure or --method/--rank/--targets) shared by train and compare.
struct StructureArgs {
  std::string structure;
  std::vector<std::string> methods;
  int64_t rank = 8;
  std::vector<std::string> targets;
};

void add_structure_options(CLI::App& app, StructureArgs& a) {
  auto* s = app.add_option("--structure", a.structure, "structure.json to train (written by bipeft search)")
                ->check(CLI::ExistingFile);
  auto* m = app.add_option("--method", a.methods,
                           "Manual PEFT: lora, adapter, adapter-lr, parallel-adapter, prefix, bitfit, lnfit, full; "
                           "combinable (lora,bitfit) or per method (lora:r=4:targets=q,k)");
  s->excludes(m);
  app.add_option("--rank", a.rank, "Rank / bottleneck / prefix length of ranked methods")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  app.add_option("--targets", a.targets,
                 "Positions: q k v o wi wo (FFN; wi = wi_0,wi_1 on gated models), attn ffn (sublayers), "
                 "attn_ln ffn_ln final_ln, cross_* , all, or full module names")
      ->delimiter(',');
}

peft::Structure resolve_structure(const StructureArgs& a, model::T5ModelImpl& m) {
  if (!a.structure.empty()) {
    auto s = peft::Structure::read(a.structure);
    s.validate(m.sites(), a.structure);
    return s;
  }
  if (a.methods.empty()) throw ConfigError("give --structure FILE or --method NAME (e.g. --method lora --rank 8)");
  try {
    return peft::manual_structure(a.methods, a.rank, a.targets, m.sites());
  } catch (const OptionError&) {
    throw;
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("--method: ") + e.what());
  }
}

Command add_train_command(CLI::App& root) {
  struct Opts {
    std::string model, out;
    TaskArgs task;
    StructureArgs structure;
    train::TrainOptions train;
    double dropout = -1;
    bool overwrite = false, no_test = false;
    ResumeArgs resume;
    RuntimeOptions rt;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("train", "Train a PEFT structure (or the full model) on a task");
  add_model_option(*app, o->model);
  add_task_options(*app, o->task);
  add_structure_options(*app, o->structure);
  app->add_option("--out", o->out, "Output folder: adapter, log.jsonl, scores.json, config.json")->required();
  auto& t = o->train;
  app->add_option("--epochs", t.epochs, "Training epochs")->capture_default_str();
  app->add_option("--lr", t.lr, "AdamW learning rate")->capture_default_str();
  app->add_option("--batch", t.batch_size, "Batch size")->capture_default_str();
  app->add_option("--weight-decay", t.weight_decay, "AdamW weight decay")->capture_default_str();
  app->add_option("--warmup-ratio", t.warmup_ratio, "Fraction of steps with linear warm-up")->capture_default_str();
  app->add_option("--clip", t.clip_norm, "Gradient-norm clip (0 = off)")->capture_default_str();
  app->add_option("--eval-every", t.eval_every, "Evaluate on dev every N epochs")->capture_default_str();
  app->add_option("--eval-batch", t.eval_batch_size, "Generation batch size for evaluation")->capture_default_str();
  add_decoding_option(*app, t.decoding);
  app->add_option("--log-every", t.log_every, "Write a step event every N steps")->capture_default_str();
  app->add_option("--max-train", t.max_train_examples, "Use only the first N training examples (0 = all)")
      ->capture_default_str();
  app->add_option("--dropout", o->dropout, "Override the model's dropout_rate (default: the checkpoint's)");
  app->add_flag("--no-test", o->no_test, "Do not score on the test split");
  app->add_flag("--overwrite", o->overwrite, "Write into a non-empty --out");
  add_resume_options(*app, o->resume);
  add_runtime_options(*app, o->rt);
  add_dist_options(*app, o->rt);
  return {app, [o]() {
            if (auto code = launch_local_workers(o->rt, "train")) return *code;
            auto ctx = make_run_context(o->rt, "train");
            const AutocastScope mixed_precision(ctx.device, autocast_requested(o->rt, ctx));
            join_workers(ctx, o->rt, o->resume, "train");
            o->train.eval_test = !o->no_test;
            o->train.validate();
            const auto task = data::load_task(o->task.task, o->task.data, task_options(o->task, o->rt.seed));
            auto backbone = load_backbone(o->model, ctx);
            if (o->dropout >= 0) backbone->set_dropout(o->dropout);
            auto tokenizer = text::Tokenizer::from_model_dir(o->model);
            auto structure = resolve_structure(o->structure, *backbone);
            nlohmann::json options = {{"model", o->model},          {"task", task.name},
                                      {"data", o->task.data},        {"format", o->task.format}, {"max_test", o->task.max_test},
                                      {"seed", o->rt.seed},          {"train", o->train.to_json()},
                                      {"dropout", backbone->config.dropout_rate},
                                      {"structure", structure.to_json()}};
            o->out = prepare_run_dir(output_dir_of_rank(ctx, o->out), o->overwrite, o->resume, "train", options, "scores.json");
            const auto path = [&](const char* f) { return (std::filesystem::path(o->out) / f).string(); };
            const auto ck = checkpointing(o->out, "train_state.safetensors", o->resume);
            if (o->resume.resuming()) {
              train::rewind_log(path("log.jsonl"), ck.path, "train");
            } else {
              io::write_json_atomic(path("config.json"), run_header("train", options));
              std::remove(path("log.jsonl").c_str());
              std::remove(ck.path.c_str());
            }
            ctx.events = std::make_shared<io::JsonlWriter>(path("log.jsonl"));
            peft::PeftModel model(backbone, structure, o->rt.seed);
            auto result = train::train_model(*model, tokenizer, task, o->train, ctx, ck);
            train::write_train_outputs(o->out, *model, task, result, o->train.eval_test,
                                       {{"base_model", o->model}, {"task", task.name}, {"best_epoch", result.best_epoch}});
            std::remove(ck.path.c_str());  // the run is complete: scores.json marks it
            ctx.info("wrote the adapter, scores.json and log.jsonl to " + o->out);
            std::cout << nlohmann::json{{"task", task.name}, {"dev", result.best_dev.to_json()},
                                        {"test", result.test.to_json()}, {"best_epoch", result.best_epoch},
                                        {"trainable_params", model->trainable_count()}, {"out", o->out}}
                             .dump()
                      << std::endl;
            return 0;
          }};
}

}  // namespace bipeft::cli
