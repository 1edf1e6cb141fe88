#pragma once
// Relaxed categorical samples over the last axis (ALGORITHM.md §4.2): hard straight-through
// Gumbel-softmax (forward = one-hot of argmax(logits + g), backward through softmax((logits + g)/tau)),
// or the plain softmax for the no-Gumbel ablation.
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace bipeft::search {

/// Hard straight-through sample of `logits` [..., K] at temperature `tau`, noise from `gen`.
at::Tensor hard_gumbel_softmax(const at::Tensor& logits, double tau, at::Generator& gen);

}  // namespace bipeft::search
