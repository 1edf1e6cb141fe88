#include "bipeft/cli/common_args.h"

#include "bipeft/cli/number_checks.h"

#include <iostream>
#include <thread>

#include <torch/cuda.h>

#include "bipeft/cli/option_flags.h"
#include "bipeft/cli/progress_bar.h"
#include "bipeft/cli/signals.h"
#include "bipeft/core/autocast.h"
#include "bipeft/core/blas.h"
#include "bipeft/core/error.h"
#include "bipeft/core/host_memory.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/dtype.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/io/file_util.h"
#include "bipeft/search/sensitivity.h"

#include <filesystem>

namespace bipeft::cli {

CLI::Option* add_model_option(CLI::App& app, std::string& dir) {
  return app.add_option("--model", dir, "Model folder: config.json, weights (safetensors/.bin), spiece.model")
      ->required()
      ->check(CLI::ExistingDirectory);
}

void add_task_options(CLI::App& app, TaskArgs& a) {
  app.add_option("--task", a.task, "Task: " + join(data::known_tasks(), ", "))->required();
  app.add_option("--data", a.data, "Task folder as officially distributed (e.g. glue/RTE, superglue/BoolQ)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--format", a.format, "Text-to-text format: paper (S3Delta/BIPEFT, numeric labels) or t5")
      ->check(CLI::IsMember({"paper", "t5"}))
      ->capture_default_str();
  app.add_option("--text-fields", a.text_fields, "Custom task: comma-separated input fields, in prompt order");
  app.add_option("--label-field", a.label_field, "Custom task: the label field");
  app.add_flag("--regression", a.regression, "Custom task: numeric labels scored by Pearson/Spearman");
  app.add_option("--max-test", a.max_test,
                 "Score a fixed subset of N test rows (the same rows for every seed; 0 = all), e.g. for IMDB's 25,000")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

data::TaskOptions task_options(const TaskArgs& a, uint64_t seed) {
  data::TaskOptions o;
  o.format = data::parse_prompt_format(a.format);
  o.seed = seed;
  if (!a.text_fields.empty())
    for (const auto& field : split(a.text_fields, ',')) o.text_fields.push_back(trim(field));
  o.label_field = a.label_field;
  o.regression = a.regression;
  o.max_test = a.max_test;
  return o;
}

void prepare_output_dir(const std::string& dir, bool overwrite) {
  if (io::is_file(dir)) throw ConfigError("--out " + dir + " is a file; give a folder");
  if (io::is_dir(dir) && !std::filesystem::is_empty(dir) && !overwrite)
    throw ConfigError("--out " + dir + " exists and is not empty; use --overwrite to replace its results");
  io::make_dirs(dir);
}

void add_runtime_options(CLI::App& app, RuntimeOptions& o, bool with_seed) {
  app.add_option("--device", o.device, "Device: cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--dtype", o.dtype, "Backbone compute dtype: f32, bf16 or f16")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads for LibTorch (0 = all cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  if (with_seed)
    app.add_option("--seed", o.seed, "Random seed (data order, init, sampling)")->check(seed_number())->capture_default_str();
  app.add_option("--autocast", o.autocast,
                 "Mixed precision: off, or bf16 (matrix products in bfloat16, weights, gradients and optimizer in "
                 "float32; several times faster on CPUs with AMX/AVX512-BF16 and on GPUs, slower on other CPUs)")
      ->capture_default_str();
  app.add_flag("--quiet,-q", o.quiet, "No progress bar or info lines on stderr");
}

bool autocast_requested(const RuntimeOptions& o, const RunContext& ctx) {
  bool on = false;
  try {
    on = parse_autocast(o.autocast);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("--autocast: ") + e.what());
  }
  if (on && ctx.device.is_cpu() && !cpu_has_fast_bf16())
    ctx.warn("--autocast bf16 on a CPU without AMX/AVX512-BF16 is likely slower than float32");
  return on;
}

void log_line(const std::string& task, LogLevel level, const std::string& msg) {
  const char* tag = level == LogLevel::Warning ? "warning: " : level == LogLevel::Error ? "error: " : "";
  // One write per line, so that the lines of several worker processes sharing stderr do not interleave.
  // Warnings and errors name options fields as the flags of this command ("raise --epochs").
  std::cerr << ("bipeft " + task + ": " + tag + (level >= LogLevel::Warning ? with_current_flags(msg) : msg) + "\n");
}

RunContext make_run_context(const RuntimeOptions& o, const std::string& task) {
  RunContext ctx;
  ctx.seed = o.seed;
  ctx.dtype = io::parse_compute_dtype(o.dtype);
  try {
    ctx.device = c10::Device(o.device);
  } catch (const c10::Error&) {
    throw ConfigError("--device '" + o.device + "' is not a device; use cpu, cuda or cuda:N");
  }
  if (ctx.device.is_cuda() && !torch::cuda::is_available())
    throw ConfigError("--device " + o.device + ": this LibTorch build has no usable CUDA; use --device cpu");
  if (!ctx.device.is_cpu() && !ctx.device.is_cuda())
    throw ConfigError("--device " + o.device + ": only cpu and cuda are supported");
  const int n = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  blas::configure_compute_threads(n);
  keep_freed_host_memory();
  const bool quiet = o.quiet;
  ctx.log = [task, quiet](LogLevel level, const std::string& msg) {
    if (quiet && level < LogLevel::Warning) return;
    log_line(task, level, msg);
  };
  if (!quiet) ctx.progress = std::make_shared<ProgressBar>();
  ctx.stop_requested = stop_flag();
  return ctx;
}

model::T5Model load_backbone(const std::string& dir, const RunContext& ctx) { return model::load_t5(dir, ctx); }

void add_decoding_option(CLI::App& app, eval::Decoding& decoding) {
  app.add_option_function<std::string>(
         "--decoding", [&decoding](const std::string& v) { decoding = eval::parse_decoding(v, "TrainOptions"); },
         "How dev/test predictions are made: generate (greedy generation, the paper's protocol) or rank (score "
         "every label and take the most likely; regression tasks such as STS-B: the expected value over the "
         "train split's distinct targets). Rank never answers outside the label set; not the paper's numbers")
      ->check(CLI::IsMember({"generate", "rank"}))
      ->default_str(eval::decoding_name(decoding));
}

void add_trigger_gap_option(CLI::App& app, int64_t& gap) {
  app.add_option_function<std::string>(
         "--trigger-gap",
         [&gap](const std::string& v) { gap = v == "spread" ? search::kTriggerGapSpread : std::stoll(v); },
         "'spread' (default): the K triggers spread over the first half of the selection steps (those after "
         "the prune-begin epoch) on a schedule, trigger j from the first possible step + j x gap with gap = those "
         "steps / 2K, as AdaLoRA spreads its rank reduction (a delayed trigger lets the next catch up); or N: at least N "
         "steps between two triggers, so the kept modules adapt before the next removal (0: the official code's "
         "rule, triggers on consecutive steps)")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            return v == "spread" || whole_number(0)(v).empty() ? std::string()
                                                                : "must be a whole number >= 0 or 'spread', got '" + v + "'";
          },
          "N|spread"))
      ->default_str(gap == search::kTriggerGapSpread ? "spread" : std::to_string(gap));
}

void add_selection_options(CLI::App& app, search::SearchOptions& s) {
  app.add_option_function<std::string>(
         "--criterion", [&s](const std::string& v) { s.criterion = search::parse_criterion(v, "--criterion"); },
                 "Sensitivity from the train (T) and validation (V) records: tra, val, tra_val, "
                 "tra_val_cos1 (T + cos*V, the paper's Eq. 3), tra_val_cos2 (cos*(T+V)), or gate_effect (ours: "
                 "the loss a module saves, fitted on the search's random on/off samples; docs/search.md)")
      ->check(CLI::IsMember(search::criterion_names()))
      ->default_str(search::criterion_name(s.criterion));
  add_trigger_gap_option(app, s.trigger_gap);
  app.add_option("--alpha-free-triggers", s.alpha_free_triggers,
                 "The last N triggers count each kept module at its exact size instead of weighting it by "
                 "alpha's on-probability (§8.1; the code's 10). N >= --max-triggers: exact from the first trigger")
      ->capture_default_str();
  app.add_flag("--no-budget-fill", [&s](int64_t) { s.budget_fill = false; },
               "Fix the last free ranks at argmax beta (the paper) instead of growing the most sensitive "
               "modules' ranks while the structure fits the budget (ours; docs/search.md)");
  app.add_option("--rank-training", s.rank_training,
                 "Rank a kept module trains at in weight steps: uniform (ours: a candidate drawn uniformly, so "
                 "every rank component trains), sandwich (ours: the largest half of the time, else uniform), beta "
                 "(drawn from softmax(beta)) or argmax (the paper)")
      ->check(CLI::IsMember(search::rank_training_names()))
      ->capture_default_str();
  app.add_flag("--no-full-rank-gradient", [&s](int64_t) { s.rank_gradient_full = false; },
               "Dimension stage: run a module at its sampled rank's slice (the paper) instead of at the largest "
               "rank with a 0/1 mask, whose gradient also reaches beta's larger candidates (ours)");
  app.add_option("--rank-cost", s.rank_cost,
                 "Ours: add COST x expected parameters / largest parameters of each module to beta's objective "
                 "(pulls ties between ranks to the smaller one; 0 = off)")
      ->capture_default_str();
  app.add_option("--rank-price", s.rank_price,
                 "Ours: in the dimension stage a larger rank must save more than EPS x the module's gain range "
                 "x its share of the extra parameters (beta's own tie-break towards the smaller of two ranks "
                 "that save the same; 0 = the paper)")
      ->capture_default_str();
  app.add_option("--ablation-rows", s.ablation_rows,
                 "Ours: order the removals at each trigger by the validation loss a module's removal costs (on "
                 "the first N rows of the validation half, per parameter) instead of the sensitivity (0 = the paper)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}))
      ->capture_default_str();
  app.add_flag("!--paper-removal", s.removal_in_order,
               "The paper's removal scan: a module that does not fit in what is left to remove at a trigger is "
               "passed over and smaller, more sensitive ones behind it are removed (default: the scan stops there)");
  app.add_option("--rank-energy", s.rank_energy,
                 "Ours: fix a rank at the smallest candidate whose leading components hold this share of the "
                 "module's component energy (LoRA, adapters) instead of argmax beta (0 = the paper)")
      ->capture_default_str();
  app.add_option("--rank-choice", s.rank_choice,
                 "What fixes a rank: beta (argmax beta, the paper) or probe (ours: the validation loss with the "
                 "module off and at each candidate, on the first --rank-probe-rows rows; the smallest candidate "
                 "that saves --rank-probe-share of the best one's saving)")
      ->check(CLI::IsMember(search::rank_choice_names()))
      ->capture_default_str();
  app.add_option("--rank-probe-rows", s.rank_probe_rows, "Validation rows the rank probe measures on (--rank-choice probe)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
      ->capture_default_str();
  app.add_option("--rank-probe-draws", s.rank_probe_draws,
                 "0: the probe runs every other kept module on; N: it averages over N configurations of the others "
                 "drawn as the weight steps draw them (alpha's on-probability, free ranks uniform)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000}))
      ->capture_default_str();
  app.add_option("--rank-probe-share", s.rank_probe_share,
                 "Share of the best candidate's loss saving a smaller candidate must reach (--rank-choice probe)")
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  app.add_option("--rank-window", s.rank_window,
                 "Beta snapshots the rank stability (Eq. 9-10) looks back over: 0 = those since the last trigger "
                 "(the paper's code), N >= 2 = the last N, kept across triggers (ours)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}))
      ->capture_default_str();
  app.add_flag("--binary-then-dim", [&s](int64_t) { s.stage_order = "binary-then-dim"; },
               "Ablation (Table 2): architecture steps search alpha until half the triggers fired, then beta");
  app.add_flag("--dim-then-binary", [&s](int64_t) { s.stage_order = "dim-then-binary"; },
               "Ablation (Table 2): architecture steps search beta until half the triggers fired, then alpha");
  app.add_option("--ema", s.ema, "Sensitivity EMA factor (Eq. 4; the official code has 0.85, which follows noise: docs/search.md)")->capture_default_str();
  app.add_flag("--sensitivity-snr", s.sensitivity_snr,
               "Ours: select by each module's smoothed sensitivity over the EMA of its records' spread (a signal-to-noise "
               "ratio, AdaLoRA's uncertainty term as a divisor), which a module's gradient scale (e.g. its depth) does not move");
  app.add_flag("--stack-balance", s.stack_balance,
               "Ours: every selection decision reads each kept module's sensitivity over the median of its stack's kept "
               "modules (encoder, decoder), so the stacks compete on their own scale (the decoder's are 5-10x on SST-2)");
  app.add_flag("--signed-sensitivity", [&s](int64_t) { s.abs_grad = false; },
               "Records are -sum(theta*grad) (first-order loss increase on shrinking a module) instead of sum|theta*grad|");
}

std::vector<std::string> parse_name_list(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& item : split(text, ','))
    if (!trim(item).empty()) out.push_back(trim(item));
  return out;
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag) {
  std::vector<int64_t> out;
  for (const auto& r : split(text, ',')) {
    try {
      size_t used = 0;
      const std::string t = trim(r);
      out.push_back(std::stoll(t, &used));
      if (used != t.size()) throw std::invalid_argument(t);
    } catch (const std::exception&) {
      throw ConfigError(flag + " '" + text + "' must be a comma list of integers (e.g. 1,4,8)");
    }
  }
  return out;
}

}  // namespace bipeft::cli
