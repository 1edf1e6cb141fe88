// --autocast bf16: the scope turns matrix products into bf16 and restores the previous state (nested
// too), the parameters and their gradients stay float32, and a T5 loss under it is close to float32's.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>

#include "bipeft/core/autocast.h"
#include "bipeft/core/error.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft {
namespace {

TEST(Autocast, ParsesOffAndBf16) {
  EXPECT_FALSE(parse_autocast("off"));
  EXPECT_TRUE(parse_autocast("bf16"));
  EXPECT_TRUE(parse_autocast("bfloat16"));
  EXPECT_THROW_WITH(parse_autocast("fp8"), ConfigError, "off or bf16");
}

TEST(Autocast, ScopeRunsProductsInBf16AndRestores) {
  const auto x = at::randn({4, 8}), w = at::randn({3, 8});
  EXPECT_EQ(at::linear(x, w).scalar_type(), at::kFloat);
  {
    const AutocastScope off(c10::Device(c10::kCPU), false);
    EXPECT_EQ(at::linear(x, w).scalar_type(), at::kFloat);
  }
  {
    const AutocastScope on(c10::Device(c10::kCPU), true);
    EXPECT_EQ(at::linear(x, w).scalar_type(), at::kBFloat16);
    {
      const AutocastScope inner(c10::Device(c10::kCPU), true);
      EXPECT_EQ(at::matmul(x, w.t()).scalar_type(), at::kBFloat16);
    }
    EXPECT_EQ(at::linear(x, w).scalar_type(), at::kBFloat16);  // the inner scope kept the outer's state
  }
  EXPECT_EQ(at::linear(x, w).scalar_type(), at::kFloat);
}

TEST(Autocast, APauseRunsFloat32InsideAScopeAndRestoresIt) {
  const auto x = at::randn({4, 8}), w = at::randn({3, 8});
  {
    const AutocastPause nothing_to_pause;
    EXPECT_EQ(at::linear(x, w).scalar_type(), at::kFloat);
  }
  EXPECT_EQ(at::linear(x, w).scalar_type(), at::kFloat);  // a pause outside a scope enables nothing
  const AutocastScope on(c10::Device(c10::kCPU), true);
  {
    const AutocastPause pause;
    EXPECT_EQ(at::linear(x, w).scalar_type(), at::kFloat);
  }
  EXPECT_EQ(at::linear(x, w).scalar_type(), at::kBFloat16);
}

// A scope that spans optimizer steps (the CLI wraps a whole train/search run in one) must see each
// step's weights. Autocast caches the bf16 copy of a weight that requires grad; with the cache on,
// the second product below would reuse the first weights and training under --autocast would not
// move (measured: bipeft train --autocast bf16 kept the loss at 10.6 for 10 steps; off: 10.5 -> 7.5).
TEST(Autocast, AScopeSpanningOptimizerStepsSeesTheUpdatedWeights) {
  const auto x = at::randn({4, 8});
  auto w = at::randn({3, 8}).requires_grad_(true);
  const AutocastScope on(c10::Device(c10::kCPU), true);
  const auto before = at::linear(x, w).to(at::kFloat);
  {
    at::NoGradGuard ng;
    w.add_(1.0);  // an optimizer step
  }
  const auto after = at::linear(x, w).to(at::kFloat);
  const auto expected = at::linear(x, w.detach()).to(at::kFloat);  // a fresh cast of the new weights
  EXPECT_GT((after - before).abs().max().item<double>(), 0.5);
  EXPECT_TRUE(after.equal(expected));
}

TEST(Autocast, T5LossIsCloseToFloat32AndGradientsStayFloat32) {
  auto model = test::tiny_t5_with_real_vocab(3);
  model->set_backbone_trainable(true);
  const auto ids = at::randint(5, 300, {2, 12}, at::kLong);
  const auto mask = at::ones({2, 12}, at::kLong);
  const auto labels = at::randint(5, 300, {2, 5}, at::kLong);
  const double full = model->forward(ids, mask, {}, labels).loss.item<double>();
  at::Tensor loss;
  {
    const AutocastScope mixed(c10::Device(c10::kCPU), true);
    loss = model->forward(ids, mask, {}, labels).loss;
  }
  EXPECT_EQ(loss.scalar_type(), at::kFloat);
  EXPECT_NEAR(loss.item<double>(), full, 0.02 * std::fabs(full));
  EXPECT_NE(loss.item<double>(), full);  // it did run in lower precision
  loss.backward();
  for (const auto& p : model->parameters()) {
    EXPECT_EQ(p.scalar_type(), at::kFloat);
    if (p.grad().defined()) {
      EXPECT_EQ(p.grad().scalar_type(), at::kFloat);
      EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>());
    }
  }
}

}  // namespace
}  // namespace bipeft
