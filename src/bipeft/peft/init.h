#pragma once
// Seeded initialisers for PEFT tensors (filled on CPU in float32, then copied to the tensor's device).
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace bipeft::peft {

/// U(-bound, bound).
void init_uniform_(at::Tensor& t, double bound, at::Generator& gen);
/// N(0, std^2).
void init_normal_(at::Tensor& t, double std, at::Generator& gen);
/// Bound of kaiming_uniform_(a) for `fan_in` (a = sqrt(5) gives 1/sqrt(fan_in), nn.Linear's default).
double kaiming_uniform_bound(int64_t fan_in, double a);
/// Bound of xavier/glorot uniform with `gain`.
double glorot_uniform_bound(int64_t fan_in, int64_t fan_out, double gain);

}  // namespace bipeft::peft
