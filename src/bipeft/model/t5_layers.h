#pragma once
// The small building blocks of T5: a bias-free linear layer, the RMS layer norm, the embedding table,
// and the feed-forward block. Each hosts a Site so PEFT modules can act on it.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "bipeft/model/site.h"
#include "bipeft/model/t5_config.h"

namespace bipeft::model {

/// y = x W^T (T5 linears have no bias). `weight` is [out, in] and frozen unless made trainable.
class T5LinearImpl : public torch::nn::Module {
 public:
  T5LinearImpl(int64_t in_features, int64_t out_features);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  Site site;  // SiteKind::Linear
  int64_t in_features, out_features;
};
TORCH_MODULE(T5Linear);

/// T5's RMS norm: weight * x / sqrt(mean(x^2) + eps), variance in float32, no mean, no bias.
class T5LayerNormImpl : public torch::nn::Module {
 public:
  T5LayerNormImpl(int64_t width, double eps);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  Site site;  // SiteKind::Norm
  double eps;
};
TORCH_MODULE(T5LayerNorm);

/// The token embedding table (`shared.weight`, [vocab, d_model]).
class T5EmbeddingImpl : public torch::nn::Module {
 public:
  T5EmbeddingImpl(int64_t vocab, int64_t width);
  torch::Tensor forward(const torch::Tensor& ids);

  torch::Tensor weight;
};
TORCH_MODULE(T5Embedding);

/// Applies the configured activation.
torch::Tensor activate(const torch::Tensor& x, Activation act);

/// The feed-forward block "DenseReluDense": wo(drop(act(wi(x)))) or, gated,
/// wo(drop(act(wi_0(x)) * wi_1(x))). Its Site (SiteKind::Sublayer) sees (x, block output).
class T5DenseImpl : public torch::nn::Module {
 public:
  explicit T5DenseImpl(const T5Config& config);
  torch::Tensor forward(const torch::Tensor& x);

  T5Linear wi{nullptr}, wi_0{nullptr}, wi_1{nullptr}, wo{nullptr};  // wi (v1.0) or wi_0 + wi_1 (gated)
  Site site;
  Activation activation;
  double dropout;
};
TORCH_MODULE(T5Dense);

}  // namespace bipeft::model
