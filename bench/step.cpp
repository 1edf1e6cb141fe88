// bench/step: one LoRA training step (AdamW, rank 8 on q and v) on a randomly initialised
// t5-small-shaped model (d_model 512, 6+6 layers, 8 heads, d_kv 64, d_ff 2048, vocab 32128),
// batch 8, source 128 tokens, target 8, dropout 0. Prints the median ms/step and tokens/s over the
// measured steps after warm-up, plus the BLAS in use. A benchmark, not a test.
// --shape large: t5-large (d_model 1024, 24+24 layers, 16 heads, d_kv 64, d_ff 4096).
// --device cuda[:N] and --dtype bf16|f16 run the backbone there (LoRA weights stay f32); GPU steps
// are timed after a device synchronisation.
//
//   bench/step [--steps 12] [--warmup 3] [--threads 0] [--batch 8] [--src 128] [--tgt 8] [--json]
//              [--shape small|large] [--device cpu|cuda[:N]] [--dtype f32|bf16|f16]
//              [--profile trace.json]   (Chrome trace of one extra step)
//              [--intra N]              (LibTorch intra-op threads; default 1, see blas.h)
//              [--default-malloc]       (skip keep_freed_host_memory, for A/B runs)
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include "bipeft/core/blas.h"
#include "bipeft/core/host_memory.h"
#include "bipeft/core/system_info.h"
#include "bipeft/core/timer.h"
#include "bipeft/io/dtype.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_model.h"

using namespace bipeft;

int main(int argc, char** argv) {
  int steps = 12, warmup = 3, threads = 0, intra = 0;
  bool default_malloc = false;  // A/B switch for the allocator tuning
  int64_t batch = 8, src = 128, tgt = 8;
  bool json = false;
  std::string profile;  // write a Chrome trace of one extra step here
  std::string shape = "small", device_name = "cpu", dtype_name = "f32";
  for (int i = 1; i < argc; ++i) {
    auto arg = [&](const char* name) { return std::strcmp(argv[i], name) == 0 && i + 1 < argc; };
    if (arg("--steps")) steps = std::stoi(argv[++i]);
    else if (arg("--warmup")) warmup = std::stoi(argv[++i]);
    else if (arg("--threads")) threads = std::stoi(argv[++i]);
    else if (arg("--intra")) intra = std::stoi(argv[++i]);
    else if (arg("--batch")) batch = std::stoll(argv[++i]);
    else if (arg("--src")) src = std::stoll(argv[++i]);
    else if (arg("--tgt")) tgt = std::stoll(argv[++i]);
    else if (std::strcmp(argv[i], "--json") == 0) json = true;
    else if (std::strcmp(argv[i], "--default-malloc") == 0) default_malloc = true;
    else if (arg("--profile")) profile = argv[++i];
    else if (arg("--shape")) shape = argv[++i];
    else if (arg("--device")) device_name = argv[++i];
    else if (arg("--dtype")) dtype_name = argv[++i];
    else {
      std::fprintf(stderr, "usage: step [--steps N] [--warmup N] [--threads N] [--batch B] [--src S] [--tgt T] [--json] [--profile F] [--intra N] [--default-malloc] [--shape small|large] [--device D] [--dtype f32|bf16|f16]\n");
      return 2;
    }
  }
  blas::configure_compute_threads(threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency()));

  if (!default_malloc) keep_freed_host_memory();
  if (intra > 0) at::set_num_threads(intra);  // LibTorch intra-op threads (elementwise ops)

  if (shape != "small" && shape != "large") {
    std::fprintf(stderr, "--shape must be small or large, got '%s'\n", shape.c_str());
    return 2;
  }
  const c10::Device device(device_name);
  if (device.is_cuda() && !torch::cuda::is_available()) {
    std::fprintf(stderr, "--device %s: this LibTorch has no usable CUDA\n", device_name.c_str());
    return 2;
  }
  const auto dtype = io::parse_compute_dtype(dtype_name);
  const bool large = shape == "large";
  model::T5Config c;  // t5-small or t5-large shape
  c.vocab_size = 32128;
  c.d_model = large ? 1024 : 512;
  c.d_kv = 64;
  c.d_ff = large ? 4096 : 2048;
  c.num_layers = c.num_decoder_layers = large ? 24 : 6;
  c.num_heads = large ? 16 : 8;
  c.dropout_rate = 0.0;
  model::T5Model m(c);
  m->init_weights_(0);
  m->to(device, dtype);
  peft::PeftModel pm(m, peft::manual_structure({"lora"}, 8, {"q", "v"}, m->sites()), 1);
  pm->train();
  torch::optim::AdamW opt(pm->trainable_parameters(), torch::optim::AdamWOptions(3e-4).weight_decay(1e-4));

  auto gen = at::detail::createCPUGenerator(123);
  auto input_ids = at::randint(2, c.vocab_size, {batch, src}, gen, at::kLong).to(device);
  auto mask = at::ones({batch, src}, at::kLong).to(device);
  auto labels = at::randint(2, c.vocab_size, {batch, tgt}, gen, at::kLong).to(device);
  const auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  };

  std::vector<double> ms;
  for (int s = 0; s < warmup + steps; ++s) {
    Timer t;
    opt.zero_grad();
    auto out = m->forward(input_ids, mask, {}, labels);
    out.loss.backward();
    opt.step();
    sync();
    const double elapsed = t.seconds() * 1e3;
    if (s >= warmup) ms.push_back(elapsed);
  }
  if (!profile.empty()) {
    torch::autograd::profiler::RecordProfile guard(profile);
    opt.zero_grad();
    m->forward(input_ids, mask, {}, labels).loss.backward();
    opt.step();
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  const double tokens = static_cast<double>(batch * (src + tgt));
  if (json) {
    std::printf("{\"shape\": \"%s\", \"device\": \"%s\", \"dtype\": \"%s\", \"median_ms\": %.1f, \"min_ms\": %.1f, \"max_ms\": %.1f, \"tokens_per_s\": %.0f, \"steps\": %zu, "
                "\"threads\": %d, \"trainable_params\": %lld}\n",
                shape.c_str(), device.str().c_str(), dtype_name.c_str(), median, ms.front(), ms.back(),
                tokens / (median / 1e3), ms.size(), blas::threads(),
                static_cast<long long>(pm->trainable_count()));
  } else {
    std::printf("bench/step: t5-%s shape on %s (%s), LoRA r=8 on q,v (%lld trainable), batch %lld, src %lld, tgt %lld\n",
                shape.c_str(), device.str().c_str(), dtype_name.c_str(), static_cast<long long>(pm->trainable_count()), static_cast<long long>(batch),
                static_cast<long long>(src), static_cast<long long>(tgt));
    std::printf("BLAS: %s; BLAS threads: %d, LibTorch intra-op threads: %d\n", blas_summary().c_str(), blas::threads(),
                at::get_num_threads());
    std::printf("median %.1f ms/step (min %.1f, max %.1f) over %zu steps after %d warm-up; %.0f tokens/s\n", median,
                ms.front(), ms.back(), ms.size(), warmup, tokens / (median / 1e3));
  }
  return 0;
}
