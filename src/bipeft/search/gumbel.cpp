#include "bipeft/search/gumbel.h"

#include <ATen/ATen.h>

namespace bipeft::search {

at::Tensor hard_gumbel_softmax(const at::Tensor& logits, double tau, at::Generator& gen) {
  // g = -log(E), E ~ Exponential(1), as torch.nn.functional.gumbel_softmax draws it.
  auto e = at::empty(logits.sizes(), logits.options().dtype(at::kFloat).device(at::kCPU));
  e.exponential_(1.0, gen);
  auto g = (-e.log()).to(logits.device(), logits.scalar_type());
  auto soft = at::softmax((logits + g) / tau, -1);
  auto index = soft.argmax(-1, /*keepdim=*/true);
  auto hard = at::zeros_like(soft).scatter_(-1, index, 1.0);
  return hard - soft.detach() + soft;
}

}  // namespace bipeft::search
