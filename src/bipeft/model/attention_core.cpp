#include "bipeft/model/attention_core.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include "bipeft/core/blas.h"

namespace bipeft::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Dims {
  int64_t B, Tq, Tk, H, dk, HD;
};

Dims dims_of(const at::Tensor& q, const at::Tensor& k, int64_t H) {
  return {q.size(0), q.size(1), k.size(1), H, q.size(2) / H, q.size(2)};
}

// Operand for head (b, h) of a [B, T, H*dk] tensor: rows t at stride HD, head columns at h*dk.
blas::Operand heads(const at::Tensor& t, const Dims& d, bool trans) {
  return {t.data_ptr<float>(), d.HD, d.dk, t.size(1) * d.HD, trans};
}
// Operand for head (b, h) of a [B, H, Tq, Tk] score tensor.
blas::Operand scores(const at::Tensor& s, const Dims& d, bool trans) {
  return {s.data_ptr<float>(), d.Tk, d.Tq * d.Tk, d.H * d.Tq * d.Tk, trans};
}

class AttentionCoreFn : public torch::autograd::Function<AttentionCoreFn> {
 public:
  // `bias` is an empty placeholder when has_bias is false (custom functions cannot take undefined tensors).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                            const at::Tensor& v_in, const at::Tensor& bias, bool has_bias, int64_t H, double dropout) {
    at::Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const Dims d = dims_of(q, k, H);
    at::Tensor s;
    float beta = 0.0f;
    if (has_bias) {
      s = bias.expand({d.B, d.H, d.Tq, d.Tk}).contiguous();
      if (s.data_ptr() == bias.data_ptr()) s = s.clone();  // never write into the caller's bias
      beta = 1.0f;
    } else {
      s = at::empty({d.B, d.H, d.Tq, d.Tk}, q.options());
    }
    // s[b,h] = bias + q[b,h] k[b,h]^T
    blas::batched_sgemm(d.B, d.H, d.Tq, d.Tk, d.dk, heads(q, d, false), heads(k, d, true), beta, s.data_ptr<float>(),
                        d.Tk, d.Tq * d.Tk, d.H * d.Tq * d.Tk);
    at::Tensor p = at::_softmax(s, -1, false);
    at::Tensor noise, pd = p;
    if (dropout > 0) {
      noise = at::empty_like(p).bernoulli_(1.0 - dropout).div_(1.0 - dropout);
      pd = p * noise;
    }
    at::Tensor out = at::empty({d.B, d.Tq, d.HD}, q.options());
    // out[b, :, h] = pd[b,h] v[b,h]
    blas::batched_sgemm(d.B, d.H, d.Tq, d.dk, d.Tk, scores(pd, d, false), heads(v, d, false), 0.0f,
                        out.data_ptr<float>(), d.HD, d.dk, d.Tq * d.HD);
    ctx->save_for_backward({q, k, v, p, noise});
    ctx->saved_data["H"] = H;
    ctx->saved_data["bias_sizes"] = bias.sizes().vec();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &p = saved[3], &noise = saved[4];
    const Dims d = dims_of(q, k, ctx->saved_data["H"].toInt());
    at::Tensor go = grads[0].contiguous();
    at::Tensor pd = noise.defined() ? p * noise : p;
    at::Tensor dq, dk, dv, dbias;
    if (ctx->needs_input_grad(2)) {
      dv = at::empty_like(v);  // dv[b,h] = pd[b,h]^T go[b,h]
      blas::batched_sgemm(d.B, d.H, d.Tk, d.dk, d.Tq, scores(pd, d, true), heads(go, d, false), 0.0f,
                          dv.data_ptr<float>(), d.HD, d.dk, d.Tk * d.HD);
    }
    const bool need_s = ctx->needs_input_grad(0) || ctx->needs_input_grad(1) || ctx->needs_input_grad(3);
    if (need_s) {
      at::Tensor dp = at::empty_like(p);  // dpd[b,h] = go[b,h] v[b,h]^T
      blas::batched_sgemm(d.B, d.H, d.Tq, d.Tk, d.dk, heads(go, d, false), heads(v, d, true), 0.0f,
                          dp.data_ptr<float>(), d.Tk, d.Tq * d.Tk, d.H * d.Tq * d.Tk);
      if (noise.defined()) dp.mul_(noise);
      at::Tensor ds = at::_softmax_backward_data(dp, p, -1, p.scalar_type()).contiguous();
      if (ctx->needs_input_grad(0)) {
        dq = at::empty_like(q);  // dq[b,h] = ds[b,h] k[b,h]
        blas::batched_sgemm(d.B, d.H, d.Tq, d.dk, d.Tk, scores(ds, d, false), heads(k, d, false), 0.0f,
                            dq.data_ptr<float>(), d.HD, d.dk, d.Tq * d.HD);
      }
      if (ctx->needs_input_grad(1)) {
        dk = at::empty_like(k);  // dk[b,h] = ds[b,h]^T q[b,h]
        blas::batched_sgemm(d.B, d.H, d.Tk, d.dk, d.Tq, scores(ds, d, true), heads(q, d, false), 0.0f,
                            dk.data_ptr<float>(), d.HD, d.dk, d.Tk * d.HD);
      }
      if (ctx->needs_input_grad(3)) dbias = ds.sum_to_size(ctx->saved_data["bias_sizes"].toIntVector());
    }
    return {dq, dk, dv, dbias, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

bool fast_path(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias) {
  auto ok = [](const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; };
  return blas::available() && ok(q) && ok(k) && ok(v) && (!bias.defined() || ok(bias));
}

}  // namespace

at::Tensor attention_core_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const at::Tensor& bias, int64_t H, double dropout) {
  const int64_t B = q.size(0), Tq = q.size(1), Tk = k.size(1), dk = q.size(2) / H;
  auto qh = q.view({B, Tq, H, dk}).transpose(1, 2);
  auto kh = k.reshape({B, Tk, H, dk}).transpose(1, 2);
  auto vh = v.reshape({B, Tk, H, dk}).transpose(1, 2);
  auto s = at::matmul(qh, kh.transpose(-1, -2));
  if (bias.defined()) s = s + bias;
  auto p = at::softmax(s.to(at::kFloat), -1).to(s.scalar_type());
  if (dropout > 0) p = at::dropout(p, dropout, true);
  return at::matmul(p, vh).transpose(1, 2).reshape({B, Tq, H * dk});
}

at::Tensor attention_core(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                          int64_t H, double dropout) {
  if (!fast_path(q, k, v, bias)) return attention_core_reference(q, k, v, bias, H, dropout);
  if (bias.defined()) return AttentionCoreFn::apply(q, k, v, bias, true, H, dropout);
  return AttentionCoreFn::apply(q, k, v, at::empty({0}, q.options()), false, H, dropout);
}

}  // namespace bipeft::model
