#pragma once
// Learning-rate schedules, as multipliers of the base rate at a given optimizer step.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/optim/adamw.h>

namespace bipeft::train {

/// transformers' get_linear_schedule_with_warmup: step/warmup during warm-up, then a linear decay to 0
/// at `total` steps. Step t is the number of optimizer steps already taken (the first step uses t = 0).
class LinearSchedule {
 public:
  LinearSchedule(int64_t total_steps, int64_t warmup_steps) : total_(total_steps), warmup_(warmup_steps) {}
  double factor(int64_t step) const;

 private:
  int64_t total_, warmup_;
};

/// One AdamW update: clips the gradients of `params` to norm `clip` (0 = no clipping), sets the
/// learning rate `lr` on every parameter group, steps. Returns the gradient norm before clipping (NaN
/// when not clipped).
double clipped_adamw_step(torch::optim::AdamW& opt, const std::vector<at::Tensor>& params, double lr, double clip);

}  // namespace bipeft::train
