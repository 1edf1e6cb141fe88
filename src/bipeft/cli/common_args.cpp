#include "bipeft/cli/common_args.h"

#include <iostream>
#include <thread>

#include <torch/cuda.h>

#include "bipeft/cli/progress_bar.h"
#include "bipeft/cli/signals.h"
#include "bipeft/core/blas.h"
#include "bipeft/core/error.h"
#include "bipeft/io/dtype.h"

namespace bipeft::cli {

CLI::Option* add_model_option(CLI::App& app, std::string& dir) {
  return app.add_option("--model", dir, "Model folder: config.json, weights (safetensors/.bin), spiece.model")
      ->required()
      ->check(CLI::ExistingDirectory);
}

void add_runtime_options(CLI::App& app, RuntimeOptions& o, bool with_seed) {
  app.add_option("--device", o.device, "Device: cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--dtype", o.dtype, "Backbone compute dtype: f32, bf16 or f16")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads for LibTorch (0 = all cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  if (with_seed) app.add_option("--seed", o.seed, "Random seed (data order, init, sampling)")->capture_default_str();
  app.add_flag("--quiet,-q", o.quiet, "No progress bar or info lines on stderr");
}

void log_line(const std::string& task, LogLevel level, const std::string& msg) {
  const char* tag = level == LogLevel::Warning ? "warning: " : level == LogLevel::Error ? "error: " : "";
  std::cerr << "bipeft " << task << ": " << tag << msg << "\n";
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
  const bool quiet = o.quiet;
  ctx.log = [task, quiet](LogLevel level, const std::string& msg) {
    if (quiet && level < LogLevel::Warning) return;
    log_line(task, level, msg);
  };
  if (!quiet) ctx.progress = std::make_shared<ProgressBar>();
  ctx.stop_requested = stop_flag();
  return ctx;
}

}  // namespace bipeft::cli
