// bipeft pretrain: T5 span-corruption pretraining of a whole model on plain-text files. Writes the
// pretrained model (HF layout) into --out/model, plus log.jsonl, loss_curve.svg, summary.json and
// config.json (the run's options and command line) into --out; resumable like train and search.
#include <filesystem>
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/io/jsonl_writer.h"
#include "bipeft/cli/number_checks.h"
#include "bipeft/cli/resume.h"
#include "bipeft/cli/run_header.h"
#include "bipeft/cli/workers.h"
#include "bipeft/core/error.h"
#include "bipeft/core/line_chart.h"
#include "bipeft/core/strings.h"
#include "bipeft/data/task_mixture.h"
#include "bipeft/io/dtype.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/train/pretrainer.h"

namespace bipeft::cli {

namespace {

std::string loss_curve_svg(const train::PretrainResult& r, const std::string& title) {
  LineChart chart;
  chart.title = title;
  chart.x_label = "step";
  chart.y_label = "loss (nats per target token)";
  chart.series = {{"train (mean of the log window)", "#1f77b4", r.train_curve, false},
                  {"held-out chunks", "#d62728", r.heldout_curve, false}};
  chart.log_y = true;
  return line_chart_svg(chart);
}

}  // namespace

Command add_pretrain_command(CLI::App& root) {
  struct Opts {
    std::string model, out, save_dtype = "f32";
    std::vector<std::string> text, mix;
    int64_t mix_max = 0;
    train::PretrainOptions pre;
    int64_t length = 128;
    double heldout = 0.02, dropout = -1;
    bool overwrite = false;
    ResumeArgs resume;
    RuntimeOptions rt;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("pretrain", "Pretrain a T5 (all weights) with span corruption on plain-text files");
  add_model_option(*app, o->model)->description("Starting model folder (bipeft init, or a checkpoint to continue)");
  app->add_option("--text", o->text, "Plain-text files, one passage per line (repeat or comma-separate)")
      ->required()
      ->delimiter(',')
      ->check(CLI::ExistingFile);
  app->add_option("--out", o->out, "Output folder: model/, log.jsonl, loss_curve.svg, summary.json")->required();
  auto& p = o->pre;
  app->add_option("--steps", p.steps, "Optimizer steps")->check(whole_number(1))->capture_default_str();
  app->add_option("--batch", p.batch_size, "Chunks per step")->check(whole_number(1))->capture_default_str();
  app->add_option("--length", o->length, "Tokens per chunk before corruption")
      ->check(whole_number(8, 8192))
      ->capture_default_str();
  app->add_option("--noise", p.corruption.noise_density, "Fraction of tokens hidden")->capture_default_str();
  app->add_option("--mean-span", p.corruption.mean_span_length, "Mean hidden span length")->capture_default_str();
  app->add_option("--lr", p.lr, "AdamW peak learning rate (with --lr-scale rms: relative to each tensor's RMS)")
      ->capture_default_str();
  app->add_option("--weight-decay", p.weight_decay, "AdamW weight decay")->capture_default_str();
  app->add_option_function<std::string>(
         "--lr-scale",
         [&p](const std::string& v) {
           if (v != "none" && v != "rms") throw CLI::ValidationError("--lr-scale", "must be none or rms, got '" + v + "'");
           p.rms_scaled_lr = v == "rms";
         },
         "Per-tensor learning rate: rms (lr x the tensor's RMS, floor 1e-3: Adafactor's relative steps, "
         "T5's own), or none (one absolute AdamW lr for every tensor; then use --lr 1e-3 or so)")
      ->default_str("rms");
  app->add_option("--warmup-ratio", p.warmup_ratio, "Fraction of steps with linear warm-up")->capture_default_str();
  app->add_option("--clip", p.clip_norm, "Gradient-norm clip (0 = off)")->capture_default_str();
  app->add_option("--heldout", o->heldout, "Fraction of chunks held out for the held-out loss (0-0.5)")
      ->capture_default_str();
  app->add_option("--eval-every", p.eval_every, "Held-out loss every N steps")->check(whole_number(1))->capture_default_str();
  app->add_option("--eval-examples", p.eval_examples, "Held-out chunks used (0 = all)")
      ->check(whole_number(0))
      ->capture_default_str();
  app->add_option("--eval-batch", p.eval_batch_size, "Batch size of the held-out loss")
      ->check(whole_number(1))
      ->capture_default_str();
  app->add_option("--log-every", p.log_every, "A step event every N steps")->check(whole_number(1))->capture_default_str();
  app->add_option("--dropout", o->dropout, "Override the model's dropout_rate during pretraining (kept in its config)");
  app->add_option("--save-dtype", o->save_dtype, "Storage dtype of model.safetensors: f32, bf16 or f16")
      ->capture_default_str();
  app->add_flag("--overwrite", o->overwrite, "Write into a non-empty --out");
  app->add_option("--mix-task", o->mix,
                  "Mix a task's training split into pretraining, as TASK=DIR (repeat or comma-separate; T5 v1.0's "
                  "multi-task recipe). Only tasks whose dev and test come from the validation file (cola, mrpc, stsb, "
                  "rte, ...); needs --task-rows")
      ->delimiter(',');
  app->add_option("--task-rows", p.task_rows, "Task examples added to every step's batch of chunks (with --mix-task)")
      ->check(whole_number(0))
      ->capture_default_str();
  app->add_option("--task-weight", p.task_weight,
                  "Weight of the task rows' mean token loss beside the chunks' (their targets are a few tokens)")
      ->capture_default_str();
  app->add_option("--mix-max", o->mix_max, "Take at most N training rows of each mixed task (0 = all)")
      ->check(whole_number(0))
      ->capture_default_str();
  add_resume_options(*app, o->resume);
  add_runtime_options(*app, o->rt);
  add_dist_options(*app, o->rt);
  return {app, [o]() {
            if (auto code = launch_local_workers(o->rt, "pretrain")) return *code;
            auto ctx = make_run_context(o->rt, "pretrain");
            // Every worker of a resumed multi-process run loads rank 0's state (weights, optimizer).
            join_workers(ctx, o->rt, o->resume, "pretrain", /*resume_in_workers=*/true);
            o->pre.autocast_bf16 = autocast_requested(o->rt, ctx);  // training forwards only
            o->pre.validate();
            c10::ScalarType storage;
            try {
              storage = io::parse_compute_dtype(o->save_dtype);
            } catch (const ConfigError& e) {
              throw ConfigError(std::string("--save-dtype: ") + e.what());
            }
            if (o->dropout != -1 && !(o->dropout >= 0.0 && o->dropout < 1.0))
              throw ConfigError("--dropout " + std::to_string(o->dropout) + " must be in [0, 1)");
            if (o->pre.task_rows > 0 && o->mix.empty())
              throw ConfigError("--task-rows " + std::to_string(o->pre.task_rows) +
                                " adds task examples to each step, but no --mix-task gives any; add --mix-task TASK=DIR "
                                "or drop --task-rows");
            if (!(o->heldout >= 0.0 && o->heldout <= 0.5))
              throw ConfigError("--heldout " + std::to_string(o->heldout) + " must be in [0, 0.5]");
            auto backbone = load_backbone(o->model, ctx);
            auto tokenizer = text::Tokenizer::from_model_dir(o->model);
            const double config_dropout = backbone->config.dropout_rate;
            if (o->dropout >= 0) backbone->set_dropout(o->dropout);
            const auto corpus = data::read_text_corpus(tokenizer, o->text, o->length, o->heldout);
            if (!o->mix.empty() && o->pre.task_rows == 0)
              throw ConfigError("--mix-task needs --task-rows N (task examples per step), e.g. --task-rows 8");
            std::vector<data::MixtureTask> mix_tasks;
            for (const auto& m : o->mix) {
              try {
                mix_tasks.push_back(data::parse_mixture_task(m));
              } catch (const ConfigError& e) {
                throw ConfigError(std::string("--mix-task: ") + e.what());
              }
            }
            auto mixture = data::read_task_mixture(mix_tasks, tokenizer, o->mix_max);
            nlohmann::json mixed = nlohmann::json::object();
            for (const auto& [name, rows] : mixture.counts) mixed[name] = rows;
            nlohmann::json options = {{"model", o->model},
                                      {"text", o->text},
                                      {"length", o->length},
                                      {"heldout", o->heldout},
                                      {"seed", o->rt.seed},
                                      {"dropout", o->dropout >= 0 ? o->dropout : config_dropout},
                                      {"save_dtype", o->save_dtype},
                                      {"pretrain", o->pre.to_json()}};
            if (!o->mix.empty()) {
              options["mix_tasks"] = o->mix;
              options["mix_max"] = o->mix_max;
            }
            const std::string run_dir = o->out;
            const bool writer = !ctx.comm || ctx.comm->rank() == 0;
            // Ranks other than 0 write into a scratch folder and read the run's state from rank 0's.
            ResumeArgs own_resume = o->resume;
            if (!writer) own_resume.dir.clear();
            o->out = prepare_run_dir(output_dir_of_rank(ctx, o->out), o->overwrite || !writer, own_resume, "pretrain",
                                     options, "summary.json");
            const auto path = [&](const std::string& f) { return (std::filesystem::path(o->out) / f).string(); };
            const std::string state_file = "pretrain_state.safetensors";
            auto ck = checkpointing(writer ? o->out : run_dir, state_file, o->resume);
            if (!writer && !o->resume.resuming()) ck.path.clear();  // only rank 0 saves; the others load
            const std::string own_state = writer ? ck.path : "";  // the state file this process may remove
            if (own_resume.resuming()) {
              train::rewind_log(path("log.jsonl"), ck.path, "pretrain");
            } else {
              io::write_json_atomic(path("config.json"), run_header("pretrain", options));
              std::remove(path("log.jsonl").c_str());
              if (!own_state.empty()) std::remove(own_state.c_str());
            }
            ctx.events = std::make_shared<io::JsonlWriter>(path("log.jsonl"));
            ctx.info("corpus: " + std::to_string(corpus.lines) + " lines, " + human_count(static_cast<double>(corpus.tokens)) +
                     " tokens in " + std::to_string(corpus.train.size()) + " training and " +
                     std::to_string(corpus.heldout.size()) + " held-out chunks of " + std::to_string(o->length));
            if (!mixture.counts.empty()) ctx.info("task mixture: " + mixed.dump() + " training rows, " +
                                                  std::to_string(o->pre.task_rows) + " per step");
            auto result = train::pretrain_model(*backbone, tokenizer, corpus, o->pre, ctx, ck, std::move(mixture.examples));
            backbone->set_dropout(config_dropout);
            const auto model_dir = path("model");
            model::save_t5(*backbone, model_dir, storage);
            io::write_file_atomic((std::filesystem::path(model_dir) / "spiece.model").string(),
                                  io::read_file((std::filesystem::path(o->model) / "spiece.model").string()));
            io::write_file_atomic(path("loss_curve.svg"),
                                  loss_curve_svg(result, "span-corruption pretraining (" +
                                                             human_count(static_cast<double>(backbone->num_parameters())) +
                                                             " parameters)"));
            nlohmann::json summary = {{"model", model_dir},
                                      {"parameters", backbone->num_parameters()},
                                      {"corpus", {{"files", o->text}, {"lines", corpus.lines}, {"tokens", corpus.tokens},
                                                  {"train_chunks", corpus.train.size()},
                                                  {"heldout_chunks", corpus.heldout.size()}}},
                                      {"task_mixture", mixed},
                                      {"result", result.to_json()}};
            io::write_json_atomic(path("summary.json"), summary);
            if (!own_state.empty()) std::remove(own_state.c_str());
            ctx.info("wrote " + model_dir + " (held-out loss " + std::to_string(result.heldout_loss) + ")");
            std::cout << nlohmann::json{{"model", model_dir},
                                        {"steps", result.steps},
                                        {"epochs", result.epochs},
                                        {"final_loss", result.final_loss},
                                        {"heldout_loss", result.heldout_loss},
                                        {"seconds", result.seconds},
                                        {"out", o->out}}
                             .dump()
                      << std::endl;
            return 0;
          }};
}

}  // namespace bipeft::cli
