// bipeft eval: scores a model (optionally with an adapter) on a split by greedy generation or rank decoding.
#include <filesystem>
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/cli/number_checks.h"
#include "bipeft/cli/adapter_args.h"
#include "bipeft/core/autocast.h"
#include "bipeft/core/error.h"
#include "bipeft/data/collate.h"
#include "bipeft/eval/evaluator.h"
#include "bipeft/io/file_util.h"
#include "bipeft/model/t5_weights.h"

namespace bipeft::cli {

Command add_eval_command(CLI::App& root) {
  struct Opts {
    std::string model, adapter, split = "test", predictions;
    TaskArgs task;
    int64_t batch = 64;
    eval::Decoding decoding = eval::Decoding::Generate;
    RuntimeOptions rt;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("eval", "Score a model (and adapter) on a task split (greedy generation, or --decoding rank)");
  add_model_option(*app, o->model);
  app->add_option("--adapter", o->adapter, "Adapter folder (bipeft native or Hugging Face PEFT)")
      ->check(CLI::ExistingDirectory);
  add_task_options(*app, o->task);
  app->add_option("--split", o->split, "dev, test, test-mismatched (mnli) or train")
      ->check(CLI::IsMember({"train", "dev", "test", "test-mismatched"}))
      ->capture_default_str();
  app->add_option("--batch", o->batch, "Generation batch size")->check(whole_number(1))->capture_default_str();
  add_decoding_option(*app, o->decoding);
  app->add_option("--predictions", o->predictions, "Also write one prediction per line to this file");
  add_runtime_options(*app, o->rt);
  return {app, [o]() {
            // An unusable --predictions path fails now, not after the whole evaluation.
            if (!o->predictions.empty()) {
              if (io::is_dir(o->predictions))
                throw ConfigError("--predictions " + o->predictions + " is a folder; give a file path");
              const auto parent = std::filesystem::path(o->predictions).parent_path();
              if (!parent.empty() && !io::is_dir(parent.string()))
                throw IoError("--predictions " + o->predictions + ": " + parent.string() + " is not an existing folder");
            }
            auto ctx = make_run_context(o->rt, "eval");
            const AutocastScope mixed_precision(ctx.device, autocast_requested(o->rt, ctx));
            const auto task = data::load_task(o->task.task, o->task.data, task_options(o->task, o->rt.seed));
            const auto& examples = data::split_by_name(task, o->split);
            auto backbone = load_backbone(o->model, ctx);
            auto tokenizer = text::Tokenizer::from_model_dir(o->model);
            auto adapter = load_adapter_if_given(backbone, o->adapter);
            auto tokenized = data::tokenize_examples(tokenizer, examples, task.max_source_length,
                                                     data::max_target_length(tokenizer, task));
            eval::EvalOptions eo;
            eo.batch_size = o->batch;
            eo.decoding = o->decoding;
            eo.label = "eval " + o->split;
            auto result = eval::evaluate(*backbone, tokenizer, task, examples, tokenized, eo, ctx);
            if (!o->predictions.empty()) {
              std::string text;
              for (const auto& p : result.predictions) text += p + "\n";
              io::write_file_atomic(o->predictions, text);  // no partial file if the write fails
            }
            std::cout << nlohmann::json{{"task", task.name}, {"split", o->split}, {"examples", examples.size()},
                                        {"decoding", eval::decoding_name(o->decoding)}, {"metrics", result.to_json()}, {"seconds", result.seconds}}
                             .dump()
                      << std::endl;
            return 0;
          }};
}

}  // namespace bipeft::cli
