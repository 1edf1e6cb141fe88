// AdaLoRA's defining behaviour: the orthogonality term (hand values, a finite gradient at an
// orthonormal point, and training with it makes A and B more orthonormal than training without it),
// the sensitivity x uncertainty averages and triplet scores (hand-worked), the greedy budget mask,
// the mask steps, and on a tiny model a search whose kept size follows the cubic schedule to the
// budget with an exact parameter count.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <ATen/ATen.h>

#include "bipeft/baselines/adalora.h"
#include "bipeft/baselines/prune_peft.h"
#include "bipeft/baselines/search_method.h"
#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "bipeft/peft/peft_model.h"
#include "test_util.h"
#include "bipeft/core/autocast.h"
#include "tiny_models.h"

namespace bipeft::baselines {
namespace {

TEST(AdaLora, OrthogonalityPenaltyIsTheMeanFrobeniusDistanceFromTheIdentity) {
  // A [2, 3] with orthonormal rows: A A^T = I. 2A: 4I, so ||3I||_F = 3 sqrt(2).
  auto a = at::tensor({1.0, 0.0, 0.0, 0.0, 1.0, 0.0}, at::kDouble).view({2, 3});
  auto b = a.t().contiguous();  // [3, 2] with orthonormal columns: B^T B = I
  EXPECT_NEAR(orthogonality_penalty({a}, {b}).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(orthogonality_penalty({2 * a}, {b}).item<double>(), 1.5 * std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(orthogonality_penalty({2 * a}, {2 * b}).item<double>(), 3 * std::sqrt(2.0), 1e-12);
  // B^T B, not B B^T: B [3, 2] = 0 gives ||-I_2||_F = sqrt(2) (a [3, 3] Gram would give sqrt(3)).
  EXPECT_NEAR(orthogonality_penalty({}, {at::zeros({3, 2}, at::kDouble)}).item<double>(), std::sqrt(2.0), 1e-12);
  EXPECT_FALSE(orthogonality_penalty({}, {}).defined());
  // At an orthonormal point the gradient is finite (zero), not NaN.
  auto leaf = a.clone().requires_grad_(true);
  orthogonality_penalty({leaf}, {}).backward();
  ASSERT_TRUE(leaf.grad().defined());
  EXPECT_TRUE(at::isfinite(leaf.grad()).all().item<bool>());
  EXPECT_NEAR(leaf.grad().abs().max().item<double>(), 0.0, 1e-12);
  // Gradient descent on the penalty alone makes random matrices more orthonormal. The gradient
  // of a (non-squared) norm has a roughly constant size, so the step shrinks with the penalty;
  // a fixed step would circle the minimum at the step's distance. Several seeded draws.
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    auto gen = at::detail::createCPUGenerator(seed);
    auto x = (at::randn({4, 10}, gen, at::kDouble) * 0.3).requires_grad_(true);
    const double before = orthogonality_penalty({x}, {}).item<double>();
    for (int i = 0; i < 100; ++i) {
      auto p = orthogonality_penalty({x}, {});
      x.mutable_grad() = at::Tensor();
      p.backward();
      at::NoGradGuard ng;
      x.sub_(0.1 * p.item<double>() * x.grad());
    }
    EXPECT_LT(orthogonality_penalty({x}, {}).item<double>(), 0.1 * before) << "seed " << seed;
  }
}

TEST(AdaLora, ImportanceIsSensitivityTimesUncertaintyAveraged) {
  ImportanceAverage avg(0.5, 0.5);
  EXPECT_TRUE(avg.empty());
  // I = |2 * 0.5| = 1: Ibar = 0.5, U = 0.5 * |1 - 0.5| = 0.25, score 0.125.
  avg.update(at::tensor({2.0}), at::tensor({0.5}));
  EXPECT_NEAR(avg.score().item<double>(), 0.125, 1e-12);
  // I = |1 * -3| = 3: Ibar = 0.25 + 1.5 = 1.75, U = 0.125 + 0.5 * 1.25 = 0.75, score 1.3125.
  avg.update(at::tensor({1.0}), at::tensor({-3.0}));
  EXPECT_NEAR(avg.score().item<double>(), 1.3125, 1e-12);
  // Element-wise on matrices.
  ImportanceAverage m(0.85, 0.85);
  m.update(at::ones({2, 3}), at::full({2, 3}, 2.0));
  EXPECT_EQ(m.score().sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_NEAR(m.score()[1][2].item<double>(), (0.15 * 2) * (0.15 * (2 - 0.3)), 1e-12);
}

TEST(AdaLora, TripletScoreAddsLambdaAndTheMeansOfItsRowOfAAndColumnOfB) {
  const auto s_lambda = at::tensor({1.0, 5.0}, at::kDouble);
  const auto s_a = at::tensor({1.0, 3.0, 0.0, 0.0}, at::kDouble).view({2, 2});          // row means 2, 0
  const auto s_b = at::tensor({3.0, 0.0, 0.0, 0.0, 0.0, 6.0}, at::kDouble).view({3, 2});  // column means 1, 2
  const auto s = triplet_scores(s_lambda, s_a, s_b);
  ASSERT_EQ(s.numel(), 2);
  EXPECT_NEAR(s[0].item<double>(), 4.0, 1e-12);
  EXPECT_NEAR(s[1].item<double>(), 7.0, 1e-12);
}

TEST(AdaLora, BudgetMaskKeepsTheBestScoredTripletsThatFit) {
  // Order: (0,0) 5 cost 10 kept (4 left); (1,0) 4 cost 3 kept (1 left); (1,1) 3 and (0,1) 1 do not fit.
  auto keep = keep_by_score({{5, 1}, {4, 3}}, {10, 3}, 14);
  EXPECT_EQ(keep, (std::vector<std::vector<uint8_t>>{{1, 0}, {1, 0}}));
  // A cheaper triplet further down still fills what an expensive one left.
  keep = keep_by_score({{5, 4}, {1, 0.5}}, {10, 3}, 16);
  EXPECT_EQ(keep, (std::vector<std::vector<uint8_t>>{{1, 0}, {1, 1}}));
  // Ties: the lower module first.
  keep = keep_by_score({{2}, {2}}, {5, 5}, 5);
  EXPECT_EQ(keep, (std::vector<std::vector<uint8_t>>{{1}, {0}}));
  // Nothing fits.
  keep = keep_by_score({{2}}, {5}, 4);
  EXPECT_EQ(keep, (std::vector<std::vector<uint8_t>>{{0}}));
  EXPECT_THROW(keep_by_score({{1}}, {}, 4), ConfigError);
}

TEST(AdaLora, MasksEveryDeltaTAfterTheWarmupAtTheEndAndAfterIt) {
  EXPECT_FALSE(adalora_mask_step(10, 10, 50, 10));  // t_init itself: the whole space
  EXPECT_FALSE(adalora_mask_step(15, 10, 50, 10));
  EXPECT_TRUE(adalora_mask_step(20, 10, 50, 10));
  EXPECT_FALSE(adalora_mask_step(45, 10, 50, 10));
  EXPECT_TRUE(adalora_mask_step(47, 10, 50, 1));
  EXPECT_TRUE(adalora_mask_step(50, 10, 50, 7));  // t_end always
  EXPECT_TRUE(adalora_mask_step(51, 10, 50, 7));  // fixed pattern enforced every step after
}

TEST(AdaLora, OptionsAreValidated) {
  AdaLoraOptions o;
  EXPECT_NO_THROW(o.validate());
  o.beta1 = 1.0;
  EXPECT_THROW_WITH(o.validate(), ConfigError, "adalora.beta1");
  o = {};
  o.delta_t = 0;
  EXPECT_THROW_WITH(o.validate(), ConfigError, "adalora.delta_t");
  o = {};
  o.orth_reg = -1;
  EXPECT_THROW_WITH(o.validate(), ConfigError, "adalora.orth_reg");
}

// ---- on a tiny model -------------------------------------------------------------------------------

struct AdaTiny {
  text::Tokenizer tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  data::TaskData task = data::load_task("sst2", test::source_path("examples/data/sst2"), data::TaskOptions{});
  search::SearchOptions options() const {
    search::SearchOptions o;
    o.epochs = 4;
    o.prune_begin_epoch = 1;
    o.batch_size = 8;
    o.max_train_examples = 64;  // 32 rows in the training half: 4 steps an epoch, 16 in all
    o.lr = 1e-2;
    return o;
  }
};

std::vector<nlohmann::json> ada_events(const test::RecordingSink& sink, const std::string& kind) {
  std::vector<nlohmann::json> out;
  for (const auto& e : sink.events)
    if (e["event"] == kind) out.push_back(e);
  return out;
}

TEST(AdaLora, KeptSizeFollowsTheCubicScheduleToTheBudgetWithAnExactCount) {
  AdaTiny t;
  RunContext ctx;
  auto sink = std::make_shared<test::RecordingSink>();
  ctx.events = sink;
  AdaLoraOptions ao;
  ao.delta_t = 2;
  const double budget = 2500;
  const auto r = adalora_search(test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, t.options(), ao, budget, ctx);
  EXPECT_TRUE(r.completed);
  ASSERT_EQ(sink->events.front()["event"], "start");
  const auto& start = sink->events.front();
  const double whole = start["lora_params"];
  const int64_t t_init = start["t_init"], t_end = start["t_end"];
  EXPECT_EQ(t_init, 4);
  EXPECT_EQ(t_end, 10);
  EXPECT_EQ(r.steps, t_end);
  ASSERT_EQ(r.curve.size(), static_cast<size_t>(r.steps));
  // The schedule: whole LoRA part up to t_init, the cubic target after, the budget at t_end.
  for (const auto& p : r.curve) {
    const auto step = static_cast<int64_t>(p[0]);
    EXPECT_NEAR(p[1], cubic_target(whole, budget, step, t_init, t_end), 1e-6) << step;
    if (step <= t_init) {
      EXPECT_EQ(p[2], whole) << step;
    }
    if (adalora_mask_step(step, t_init, t_end, ao.delta_t)) {
      EXPECT_LE(p[2], p[1]) << "kept above the target at " << step;
    }
  }
  EXPECT_NEAR(r.curve.back()[1], budget, 1e-9);
  const auto masks = ada_events(*sink, "mask");
  ASSERT_EQ(masks.size(), 3u);  // steps 6, 8, 10
  EXPECT_EQ(masks.back()["step"], t_end);
  // The result is the last mask's ranks, only LoRA modules, within one triplet of the budget, and the
  // count is exact.
  std::map<std::string, int64_t> last;
  for (const auto& [id, n] : masks.back()["ranks"].items())
    if (n.get<int64_t>() > 0) last[id] = n;
  std::map<std::string, int64_t> found;
  for (const auto& m : r.structure.modules) {
    EXPECT_EQ(m.method, "lora") << m.site;
    found[m.site + ":" + m.method] = m.rank;
  }
  EXPECT_EQ(found, last);
  EXPECT_LE(r.params, budget);
  EXPECT_GE(r.params, budget - 2 * 64.0 * 2);  // within a couple of the tiny model's triplets (in + out <= 128)
  auto backbone = test::tiny_t5_with_real_vocab(3);
  peft::PeftModel pm(backbone, r.structure, 1);
  EXPECT_EQ(static_cast<double>(pm->trainable_count()), r.params);
  EXPECT_EQ(sink->events.back()["event"], "done");
  // Same seed, same structure; another seed is allowed to differ but must keep the budget.
  const auto again = adalora_search(test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, t.options(), ao, budget, RunContext{});
  EXPECT_EQ(again.structure.to_json(), r.structure.to_json());
}

TEST(AdaLora, TheOrthogonalityTermMakesTheFactorsMoreOrthonormal) {
  AdaTiny t;
  auto run = [&](double orth_reg) {
    RunContext ctx;
    auto sink = std::make_shared<test::RecordingSink>();
    ctx.events = sink;
    AdaLoraOptions ao;
    ao.orth_reg = orth_reg;
    ao.final_steps = 4;
    const auto r = adalora_search(test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, t.options(), ao, 2500, ctx);
    EXPECT_TRUE(r.completed);
    EXPECT_EQ(r.steps, 14);  // t_end 10 + 4 steps with the fixed pattern
    const auto steps = ada_events(*sink, "step");
    return std::make_pair(steps.front()["orthogonality"].get<double>(), steps.back()["orthogonality"].get<double>());
  };
  const auto with = run(0.5), without = run(0.0);
  EXPECT_NEAR(with.first, without.first, 1e-9);  // same start
  EXPECT_LT(with.second, with.first);
  EXPECT_LT(with.second, without.second);
}

// regression, was a defect in adalora.cpp: under --autocast bf16 the Gram matrices were bf16 and CPU LibTorch 1.13
// has no bf16 `eye` (bipeft compare --autocast bf16 stopped at its first AdaLoRA cell).
TEST(AdaLora, TheOrthogonalityTermIsFloat32UnderBf16Autocast) {
  auto gen = at::detail::createCPUGenerator(7);
  const auto a = at::randn({4, 16}, gen), b = at::randn({16, 4}, gen);
  const double reference = orthogonality_penalty({a}, {b}).item<double>();
  const AutocastScope on(c10::Device(c10::kCPU), true);
  const auto under = orthogonality_penalty({a}, {b});
  EXPECT_EQ(under.scalar_type(), at::kFloat);
  EXPECT_NEAR(under.item<double>(), reference, 1e-6 * reference);
  AdaTiny t;
  AdaLoraOptions ao;
  ao.final_steps = 2;
  const auto r = adalora_search(test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, t.options(), ao, 2500, RunContext{});
  EXPECT_TRUE(r.completed);
  EXPECT_LE(r.params, 2500);
}

TEST(AdaLora, NeedsLoraInTheSpaceAndDispatchesByName) {
  AdaTiny t;
  search::SpaceOptions space;
  space.space = "bitfit,lnfit";
  EXPECT_THROW_WITH(adalora_search(test::tiny_t5_with_real_vocab(3), t.tok, t.task, space, t.options(), {}, 100,
                                   RunContext{}),
                    ConfigError, "no LoRA module");
  EXPECT_EQ(canonical_search_method("AdaLoRA"), "adalora");
  EXPECT_EQ(canonical_search_method("ada-lora"), "adalora");
  auto sink = std::make_shared<test::RecordingSink>();
  RunContext ctx;
  ctx.events = sink;
  const auto r = run_search_method("adalora", test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, t.options(), {},
                                   2500, ctx);
  EXPECT_EQ(sink->events.front()["method"], "adalora");
  EXPECT_LE(r.params, 2500);
}

}  // namespace
}  // namespace bipeft::baselines
