#include "bipeft/core/autocast.h"

#include <fstream>
#include <sstream>

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "bipeft/core/error.h"

namespace bipeft {

bool parse_autocast(const std::string& value) {
  if (value == "off" || value == "none" || value.empty()) return false;
  if (value == "bf16" || value == "bfloat16") return true;
  throw ConfigError("autocast '" + value + "' is not known; use off or bf16");
}

namespace {

// LibTorch 2.4 replaced the per-device autocast calls by ones taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void enable_autocast(bool cuda, bool on) { at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on); }
void set_autocast(bool cuda, bool on) {
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, at::kBFloat16);
  enable_autocast(cuda, on);
}
#else
bool autocast_enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void enable_autocast(bool cuda, bool on) {
  if (cuda) at::autocast::set_enabled(on);
  else at::autocast::set_cpu_enabled(on);
}
void set_autocast(bool cuda, bool on) {
  if (cuda) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  else at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  enable_autocast(cuda, on);
}
#endif

}  // namespace

AutocastScope::AutocastScope(c10::Device device, bool enabled) {
  if (!enabled) return;
  active_ = true;
  cuda_ = device.is_cuda();
  was_enabled_ = autocast_enabled(cuda_);
  was_caching_ = at::autocast::is_autocast_cache_enabled();
  // Autocast caches the bf16 copy of each weight that requires grad until the outermost region ends.
  // A scope may span a whole training run (the CLI wraps train/search in one), and the cached copies
  // would then keep the first step's weights for every later forward: training would not move. So
  // casts are not cached; each forward casts the current weights.
  at::autocast::set_autocast_cache_enabled(false);
  set_autocast(cuda_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(cuda_, was_enabled_);
  at::autocast::set_autocast_cache_enabled(was_caching_);
}

AutocastPause::AutocastPause() : cpu_(autocast_enabled(false)), cuda_(autocast_enabled(true)) {
  if (cpu_) enable_autocast(false, false);
  if (cuda_) enable_autocast(true, false);
}

AutocastPause::~AutocastPause() {
  if (cpu_) enable_autocast(false, true);
  if (cuda_) enable_autocast(true, true);
}

bool cpu_has_fast_bf16() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    std::string w;
    while (words >> w)
      if (w == "amx_bf16" || w == "avx512_bf16") return true;
    return false;
  }
  return false;
}

}  // namespace bipeft
