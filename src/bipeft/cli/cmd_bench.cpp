// bipeft bench planted: the planted-structure benchmark (does the search find a known delta?).
#include <filesystem>
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/cli/number_checks.h"
#include "bipeft/io/jsonl_writer.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/peft/structure.h"
#include "bipeft/search/planted.h"
#include "bipeft/search/space.h"

namespace bipeft::cli {

namespace {

// "site:method:rank,site:method:rank" -> specs. The rank must be a whole positive integer ("8x", "0" and
// out-of-range numbers are refused rather than truncated or reported as a bare std::stoll failure).
std::vector<peft::ModuleSpec> parse_planted(const std::string& text) {
  std::vector<peft::ModuleSpec> out;
  for (const auto& item : split(text, ',')) {
    const auto parts = split(trim(item), ':');
    if (parts.size() != 3)
      throw ConfigError("--planted entry '" + item + "' must be site:method:rank, e.g. encoder.block.0.layer.0.SelfAttention.q:lora:8");
    const std::string rank_text = trim(parts[2]);
    int64_t rank = 0;
    size_t used = 0;
    try {
      rank = std::stoll(rank_text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (rank_text.empty() || used != rank_text.size() || rank < 1)
      throw ConfigError("--planted entry '" + item + "': the rank must be a positive integer");
    out.push_back({trim(parts[0]), trim(parts[1]), rank});
  }
  return out;
}

}  // namespace

Command add_bench_command(CLI::App& root) {
  struct Opts {
    std::string model, out, planted, ranks = "1,4,8", positions;
    TaskArgs task;
    search::PlantedOptions p;
    bool overwrite = false, search_only = false;
    RuntimeOptions rt;
  };
  auto o = std::make_shared<Opts>();
  auto* bench = root.add_subcommand("bench", "Benchmarks of the method itself");
  bench->require_subcommand(1);
  auto* app = bench->add_subcommand("planted", "Planted-structure benchmark: does the search recover a known PEFT delta?");
  add_model_option(*app, o->model);
  add_task_options(*app, o->task);
  app->add_option("--out", o->out, "Output folder: report.json, trace.jsonl")->required();
  app->add_option("--planted", o->planted,
                  "Planted modules site:method:rank, comma-separated (default: 4 LoRA modules over encoder and decoder)");
  app->add_option("--scale", o->p.delta_scale, "Teacher delta weights ~ N(0, (scale/sqrt(fan_in))^2); a LoRA delta gets r equal singular values of that expected norm")->capture_default_str();
  app->add_flag("!--no-balance", o->p.balance_effects,
                "Keep the planted deltas at --scale (default: rescale each until all planted modules change the teacher's outputs about equally, so that every plant can be found)");
  app->add_option("--balance-rounds", o->p.balance_rounds, "Rounds of rescaling the planted deltas (KL measured each round)")
      ->check(whole_number(0))
      ->capture_default_str();
  app->add_option("--tokens", o->p.target_tokens, "Teacher greedy tokens per sentence")
      ->check(whole_number(1))
      ->capture_default_str();
  app->add_option("--target", o->p.target,
                  "Training targets: logits (distil the teacher's distributions, KL) or greedy (its greedy tokens, CE)")
      ->check(CLI::IsMember({"logits", "greedy"}))
      ->capture_default_str();
  app->add_option("--sentences", o->p.max_sentences, "Sentences from the task's train split")
      ->check(whole_number(8))
      ->capture_default_str();
  app->add_option("--space", o->p.space.space, "Search space (s2, s1 or a list of methods)")->capture_default_str();
  app->add_option("--ranks", o->ranks, "Candidate ranks D")->capture_default_str();
  app->add_option("--positions", o->positions, "Only these positions of the space (e.g. q,v,wo; default: all)");
  auto& s = o->p.search;
  s.epochs = 30;
  s.prune_begin_epoch = 1;
  s.batch_size = 16;
  s.lr = 1e-2;
  s.max_triggers = 30;
  app->add_option("--epochs", s.epochs, "Search epoch cap")->check(whole_number(1))->capture_default_str();
  app->add_option("--prune-begin-epoch", s.prune_begin_epoch, "0-based epoch from which triggers count")
      ->check(whole_number(0))
      ->capture_default_str();
  app->add_option("--max-triggers", s.max_triggers, "K")->check(whole_number(1))->capture_default_str();
  add_selection_options(*app, s);
  app->add_option("--batch", s.batch_size, "Search batch size")->check(whole_number(1))->capture_default_str();
  app->add_option("--lr", s.lr, "Search AdamW learning rate")->capture_default_str();
  app->add_option("--arch-lr", s.arch_lr, "Architecture Adam learning rate")->capture_default_str();
  auto& t = o->p.train;
  t.epochs = 10;
  t.batch_size = 16;
  t.lr = 1e-2;
  app->add_option("--train-epochs", t.epochs, "Epochs of the found/oracle/random trainings")
      ->check(whole_number(1))
      ->capture_default_str();
  app->add_option("--train-lr", t.lr, "Learning rate of those trainings")->capture_default_str();
  app->add_flag("--search-only", o->search_only,
                "Search and score the recovery only; skip training the found, planted and random structures");
  app->add_flag("--overwrite", o->overwrite, "Write into a non-empty --out");
  add_runtime_options(*app, o->rt);
  return {bench, [o]() {
            // The trainings' own validation names --epochs/--lr; these flags are --train-epochs/--train-lr here.
            if (o->p.train.epochs < 1)
              throw ConfigError("--train-epochs must be >= 1, got " + std::to_string(o->p.train.epochs));
            if (!(o->p.train.lr > 0)) throw ConfigError("--train-lr must be > 0");
            auto ctx = make_run_context(o->rt, "bench planted");
            o->p.search.ranks = parse_int_list(o->ranks, "--ranks");
            o->p.train_structures = !o->search_only;
            o->p.space.ranks = o->p.search.ranks;
            o->p.space.positions = parse_name_list(o->positions);
            if (!o->planted.empty()) o->p.planted = parse_planted(o->planted);
            o->p.validate();
            const auto task = data::load_task(o->task.task, o->task.data, task_options(o->task, o->rt.seed));
            std::vector<std::string> sentences;
            for (const auto& e : task.train) sentences.push_back(e.source);
            auto backbone = load_backbone(o->model, ctx);
            backbone->set_dropout(0.0);
            auto tokenizer = text::Tokenizer::from_model_dir(o->model);
            // Everything the benchmark would refuse is checked before --out is touched.
            if (sentences.size() < 8)
              throw ConfigError("--data " + o->task.data + ": the " + task.name + " train split has " +
                                std::to_string(sentences.size()) + " sentences; the benchmark needs at least 8");
            peft::Structure planted;
            planted.modules = o->p.planted.empty() ? search::default_planted(backbone->sites()) : o->p.planted;
            planted.validate(backbone->sites(), "--planted");
            try {
              search::build_space(o->p.space, backbone->sites());
            } catch (const OptionError&) {
              throw;  // names its own field (--positions, --ranks)
            } catch (const ConfigError& e) {
              throw ConfigError("--space '" + o->p.space.space + "': " + e.what());
            }
            try {
              search::check_planted_in_space(planted, o->p.space, o->p.search.ranks, backbone->sites());
            } catch (const ConfigError& e) {
              throw ConfigError(std::string("--planted: ") + e.what());
            }
            prepare_output_dir(o->out, o->overwrite);
            const auto path = [&](const std::string& f) { return (std::filesystem::path(o->out) / f).string(); };
            std::remove(path("trace.jsonl").c_str());  // --overwrite: a new trace, not appended to the old one
            ctx.events = std::make_shared<io::JsonlWriter>(path("trace.jsonl"));
            auto report = search::run_planted_benchmark(backbone, tokenizer, sentences, o->p, ctx);
            auto j = report.to_json();
            j["model"] = o->model;
            j["task"] = task.name;
            j["seed"] = o->rt.seed;
            io::write_json_atomic(path("report.json"), j);
            char line[512];
            std::snprintf(line, sizeof line,
                          "recovery P %.2f R %.2f F1 %.2f (sublayers F1 %.2f), rank accuracy %.2f (beta's own %.2f); "
                          "held-out %s found %.4f, oracle %.4f, random %.4f, backbone %.4f",
                          report.precision, report.recall, report.f1, report.sublayer_f1, report.rank_accuracy,
                          report.beta_rank_accuracy,
                          report.target == "logits" ? "KL" : "loss", report.loss_found,
                          report.loss_oracle, report.loss_random, report.loss_backbone);
            if (!o->rt.quiet) std::cerr << "bipeft bench planted: " << line << std::endl;
            std::cout << nlohmann::json{{"recovery", j["recovery"]}, {"heldout_loss", j["heldout_loss"]},
                                        {"params", j["params"]}, {"out", o->out}}.dump()
                      << std::endl;
            return 0;
          }};
}

}  // namespace bipeft::cli
