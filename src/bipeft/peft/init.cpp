#include "bipeft/peft/init.h"

#include <cmath>

#include <ATen/ATen.h>

namespace bipeft::peft {

void init_uniform_(at::Tensor& t, double bound, at::Generator& gen) {
  at::NoGradGuard ng;
  auto cpu = at::empty(t.sizes(), at::TensorOptions().dtype(at::kFloat));
  cpu.uniform_(-bound, bound, gen);
  t.copy_(cpu);
}

void init_normal_(at::Tensor& t, double std, at::Generator& gen) {
  at::NoGradGuard ng;
  auto cpu = at::empty(t.sizes(), at::TensorOptions().dtype(at::kFloat));
  cpu.normal_(0.0, std, gen);
  t.copy_(cpu);
}

double kaiming_uniform_bound(int64_t fan_in, double a) {
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  return gain * std::sqrt(3.0 / static_cast<double>(fan_in));
}

double glorot_uniform_bound(int64_t fan_in, int64_t fan_out, double gain) {
  return gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
}

}  // namespace bipeft::peft
