#pragma once
// Mixed precision by autocast: inside an AutocastScope the matrix products of a forward pass run in
// bfloat16 (LibTorch's autocast policy: linear, matmul, bmm, ... in bf16; reductions, softmax and
// losses in float32) while the parameters, their gradients and the optimizer stay float32. On CPUs
// with AMX or AVX512-BF16 (oneDNN) a bf16 product is several times faster than a float32 one; on
// others it can be slower, so it is opt-in (--autocast bf16).
#include <string>

#include <c10/core/Device.h>

namespace bipeft {

/// The accepted --autocast values: "off" and "bf16".
bool parse_autocast(const std::string& value);

/// Enables bf16 autocast for `device` (CPU or CUDA) for its lifetime when `enabled`, restoring the
/// previous state afterwards; a no-op otherwise. Thread-local, like autocast itself: the backward
/// pass needs no scope. A scope may span many optimizer steps: weight casts are not cached inside it
/// (autocast's cache would keep the first step's weights until the scope ends).
class AutocastScope {
 public:
  AutocastScope(c10::Device device, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false, cuda_ = false, was_enabled_ = false, was_caching_ = true;
};

/// Float32 inside: pauses autocast (CPU and CUDA) for its lifetime and restores it afterwards, for
/// small computations whose precision matters more than their speed (e.g. AdaLoRA's orthogonality
/// term: a bf16 Gram matrix holds about 3 significant digits, and CPU LibTorch 1.13 has no bf16 `eye`).
class AutocastPause {
 public:
  AutocastPause();
  ~AutocastPause();
  AutocastPause(const AutocastPause&) = delete;
  AutocastPause& operator=(const AutocastPause&) = delete;

 private:
  bool cpu_ = false, cuda_ = false;
};

/// True when this CPU advertises AMX-BF16 or AVX512-BF16 (Linux /proc/cpuinfo; false elsewhere):
/// where --autocast bf16 is expected to pay.
bool cpu_has_fast_bf16();

}  // namespace bipeft
