#include "bipeft/model/attention_core.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "bipeft/core/blas.h"
#include "test_util.h"

namespace bipeft::model {
namespace {

struct Grads {
  at::Tensor out, dq, dk, dv, dbias;
};

Grads run(bool fast, const at::Tensor& q0, const at::Tensor& k0, const at::Tensor& v0, const at::Tensor& b0,
          const at::Tensor& g, int64_t H) {
  auto q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true), v = v0.clone().requires_grad_(true);
  auto b = b0.clone().requires_grad_(true);
  auto out = fast ? attention_core(q, k, v, b, H, 0.0) : attention_core_reference(q, k, v, b, H, 0.0);
  out.backward(g);
  return {out.detach(), q.grad(), k.grad(), v.grad(), b.grad()};
}

TEST(AttentionCore, MatchesTheAtenReferenceInValuesAndGradients) {
  ASSERT_TRUE(blas::available()) << "the CPU fast path needs cblas_sgemm in the process";
  auto gen = at::detail::createCPUGenerator(3);
  const int64_t B = 3, Tq = 5, Tk = 7, H = 4, dk = 6;
  for (auto bias_shape : {std::vector<int64_t>{B, H, Tq, Tk}, std::vector<int64_t>{1, H, Tq, Tk},
                          std::vector<int64_t>{B, 1, 1, Tk}}) {
    auto q = at::randn({B, Tq, H * dk}, gen), k = at::randn({B, Tk, H * dk}, gen), v = at::randn({B, Tk, H * dk}, gen);
    auto bias = at::randn(bias_shape, gen);
    auto g = at::randn({B, Tq, H * dk}, gen);
    auto a = run(true, q, k, v, bias, g, H), r = run(false, q, k, v, bias, g, H);
    EXPECT_LE(test::max_rel_diff(a.out, r.out), 1e-6);
    EXPECT_LE(test::max_rel_diff(a.dq, r.dq), 1e-5);
    EXPECT_LE(test::max_rel_diff(a.dk, r.dk), 1e-5);
    EXPECT_LE(test::max_rel_diff(a.dv, r.dv), 1e-5);
    EXPECT_LE(test::max_rel_diff(a.dbias, r.dbias), 1e-5);
  }
}

TEST(AttentionCore, NonContiguousInputsAndLargeBatchesUseWorkerThreads) {
  auto gen = at::detail::createCPUGenerator(4);
  const int64_t B = 8, T = 64, H = 8, dk = 32;
  auto qkv = at::randn({B, T, 3 * H * dk}, gen);
  auto q = qkv.narrow(2, 0, H * dk), k = qkv.narrow(2, H * dk, H * dk), v = qkv.narrow(2, 2 * H * dk, H * dk);
  auto bias = at::randn({1, H, T, T}, gen);
  at::NoGradGuard ng;
  EXPECT_LE(test::max_rel_diff(attention_core(q, k, v, bias, H, 0.0), attention_core_reference(q, k, v, bias, H, 0.0)),
            1e-6);
}

TEST(AttentionCore, DropoutKeepsTheExpectedValue) {
  auto gen = at::detail::createCPUGenerator(5);
  const int64_t B = 2, T = 16, H = 2, dk = 4;
  auto q = at::zeros({B, T, H * dk}), k = at::zeros({B, T, H * dk}), v = at::ones({B, T, H * dk});
  at::NoGradGuard ng;
  // Uniform attention over ones gives exactly 1; dropout rescales by 1/(1-p) so the mean stays near 1.
  auto out = attention_core(q, k, v, at::Tensor(), H, 0.5);
  EXPECT_NEAR(out.mean().item<double>(), 1.0, 0.15);
  EXPECT_GT((out - 1.0).abs().max().item<double>(), 0.0);
}

}  // namespace
}  // namespace bipeft::model
