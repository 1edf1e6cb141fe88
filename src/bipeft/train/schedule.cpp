#include "bipeft/train/schedule.h"

#include <cmath>

#include <torch/nn/utils/clip_grad.h>

#include <algorithm>

namespace bipeft::train {

double LinearSchedule::factor(int64_t step) const {
  if (step < warmup_) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_));
  return std::max(0.0, static_cast<double>(total_ - step) / static_cast<double>(std::max<int64_t>(1, total_ - warmup_)));
}

double clipped_adamw_step(torch::optim::AdamW& opt, const std::vector<at::Tensor>& params, double lr, double clip) {
  double norm = NAN;
  if (clip > 0) norm = torch::nn::utils::clip_grad_norm_(params, clip);
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  opt.step();
  return norm;
}

}  // namespace bipeft::train
