#include "bipeft/model/t5_layers.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>

#include <ATen/ATen.h>
#include <cmath>

namespace bipeft::model {

T5LinearImpl::T5LinearImpl(int64_t in, int64_t out) : in_features(in), out_features(out) {
  weight = register_parameter("weight", torch::empty({out, in}), /*requires_grad=*/false);
}

torch::Tensor T5LinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = at::linear(x, weight);
  if (!site.empty()) y = site.apply(x, std::move(y));
  return y;
}

T5LayerNormImpl::T5LayerNormImpl(int64_t width, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({width}), /*requires_grad=*/false);
}

torch::Tensor T5LayerNormImpl::forward(const torch::Tensor& x) {
  // As transformers' T5LayerNorm: variance in float32, result cast back for half weights.
  auto variance = x.to(at::kFloat).pow(2).mean(-1, /*keepdim=*/true);
  auto normed = x * at::rsqrt(variance + eps);
  if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16) normed = normed.to(weight.scalar_type());
  auto y = weight * normed;
  if (!site.empty()) y = site.apply(normed, std::move(y));
  return y;
}

T5EmbeddingImpl::T5EmbeddingImpl(int64_t vocab, int64_t width) {
  weight = register_parameter("weight", torch::empty({vocab, width}), /*requires_grad=*/false);
}

torch::Tensor T5EmbeddingImpl::forward(const torch::Tensor& ids) { return at::embedding(weight, ids); }

torch::Tensor activate(const torch::Tensor& x, Activation act) {
  switch (act) {
    case Activation::Relu: return at::relu(x);
    case Activation::Gelu: return at::gelu(x);
    case Activation::GeluNew: return 0.5 * x * (1.0 + at::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * at::pow(x, 3.0))));
    case Activation::Silu: return at::silu(x);
  }
  return x;
}

T5DenseImpl::T5DenseImpl(const T5Config& c) : activation(c.activation), dropout(c.dropout_rate) {
  if (c.gated_ffn) {
    wi_0 = register_module("wi_0", T5Linear(c.d_model, c.d_ff));
    wi_1 = register_module("wi_1", T5Linear(c.d_model, c.d_ff));
  } else {
    wi = register_module("wi", T5Linear(c.d_model, c.d_ff));
  }
  wo = register_module("wo", T5Linear(c.d_ff, c.d_model));
}

torch::Tensor T5DenseImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = wi ? activate(wi(x), activation) : activate(wi_0(x), activation) * wi_1(x);
  if (dropout > 0 && is_training()) h = at::dropout(h, dropout, true);
  torch::Tensor y = wo(h);
  if (!site.empty()) y = site.apply(x, std::move(y));
  return y;
}

}  // namespace bipeft::model
