#pragma once
// The inner part of T5 attention: softmax(q k^T + bias) v per head, with optional dropout on the
// attention weights. Tensors use the projection layout [B, T, H * d_kv] (no transposes). On CPU with
// float32 and a CBLAS in the process, a custom autograd function runs the per-head GEMMs directly on
// that layout, spread over the BLAS threads; otherwise plain ATen ops compute the same values.
#include <ATen/core/Tensor.h>

namespace bipeft::model {

/// q [B, Tq, H*dk], k and v [B, Tk, H*dk], bias broadcastable to [B, H, Tq, Tk] (may be undefined).
/// Returns the context [B, Tq, H*dk]. `dropout` applies to the attention weights when > 0.
at::Tensor attention_core(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                          int64_t num_heads, double dropout);

/// The ATen version (used on GPU, for other dtypes, and as the reference in tests).
at::Tensor attention_core_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const at::Tensor& bias, int64_t num_heads, double dropout);

}  // namespace bipeft::model
