// Module sensitivity (ALGORITHM.md §6): each criterion's formula on hand-worked records, abs and signed
// records on a real LoRA module, and the gate-effect regression on losses with known effects.
#include "bipeft/search/sensitivity.h"

#include <gtest/gtest.h>

#include <random>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/search/gate_effect.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::search {
namespace {

TEST(Sensitivity, EachCriterionCombinesTheRecordsAsTheCodeDoes) {
  // T = 2, V = 4, cosine 0.5, n = 2 for both records.
  EXPECT_DOUBLE_EQ(step_sensitivity(Criterion::Train, 2, 4, 0.5, 2, 2), 1.0);
  EXPECT_DOUBLE_EQ(step_sensitivity(Criterion::Validation, 2, 4, 0.5, 2, 2), 2.0);
  EXPECT_DOUBLE_EQ(step_sensitivity(Criterion::TrainVal, 2, 4, 0.5, 2, 2), 3.0);
  EXPECT_DOUBLE_EQ(step_sensitivity(Criterion::TrainValCos1, 2, 4, 0.5, 2, 2), 2.0);  // 1 + 0.5 * 2
  EXPECT_DOUBLE_EQ(step_sensitivity(Criterion::TrainValCos2, 2, 4, 0.5, 2, 2), 1.5);  // 0.5 * 3
  EXPECT_DOUBLE_EQ(step_sensitivity(Criterion::TrainValCos1, 2, 4, 0.5, 0, 0), 4.0);  // n <= 0 counts as 1
  // Each record per its own active count: T / 2 + 0.5 * V / 8.
  EXPECT_DOUBLE_EQ(step_sensitivity(Criterion::TrainValCos1, 2, 4, 0.5, 2, 8), 1.25);
  EXPECT_DOUBLE_EQ(step_sensitivity(Criterion::TrainValCos2, 2, 4, 0.5, 2, 8), 0.75);
  for (const char* name : {"tra", "val", "tra_val", "tra_val_cos1", "tra_val_cos2", "gate_effect"})
    EXPECT_EQ(criterion_name(parse_criterion(name, "--criterion")), name);
  EXPECT_THROW_WITH(parse_criterion("cos", "--criterion"), ConfigError, "--criterion: unknown sensitivity criterion 'cos'");
}

// One LoRA module (q of encoder block 0) with given parameter values and gradients.
struct OneModule {
  model::T5Model backbone = test::tiny_t5_with_real_vocab(1);
  peft::PeftModel pm{backbone, peft::manual_structure({"lora"}, 2, {"q"}, backbone->sites()), 1};
  std::vector<SearchModule> modules;
  OneModule() {
    SearchModule m;
    m.module = pm->modules.front();
    m.ranked = true;
    m.full = 10;  // not the normaliser: records are divided by the active count n()
    modules.push_back(m);
  }
  // Parameters at the module's active rank (2: every parameter here).
  double n() const { return static_cast<double>(modules[0].module->param_count(modules[0].module->active_rank())); }
  // theta = 1 everywhere; the gradient is `g` in the first element of every tensor, 0 elsewhere.
  void set(double g) {
    at::NoGradGuard ng;
    for (auto p : modules[0].module->parameters()) {
      p.fill_(1.0);
      auto grad = at::zeros_like(p);
      grad.view({-1})[0] = g;
      p.mutable_grad() = grad;
    }
  }
  size_t tensors() const { return modules[0].module->parameters().size(); }
};

TEST(Sensitivity, RecordsAreSumsOfAbsoluteProductsOrMinusTheSignedSum) {
  for (bool abs_grad : {true, false}) {
    OneModule one;
    const double k = static_cast<double>(one.tensors()), n = one.n();
    SensitivityTracker tracker(1, SensitivityOptions{0.5, Criterion::TrainVal, abs_grad});
    one.set(-3.0);  // validation products: -3 per tensor
    tracker.record_validation(one.modules);
    one.set(-1.0);  // train products: -1 per tensor
    tracker.update_from_train(one.modules);
    // abs: (3k + k) / n; signed: -(-3k - k) / n, the same here because every product is negative.
    EXPECT_NEAR(tracker.last()[0], 4.0 * k / n, 1e-9) << abs_grad;
    EXPECT_NEAR(tracker.smoothed()[0], 0.5 * 4.0 * k / n, 1e-9) << "EMA from 0 with factor 0.5";
    one.set(2.0);
    tracker.record_validation(one.modules);
    one.set(-1.0);
    tracker.update_from_train(one.modules);
    // Products +2 and -1 per tensor: abs (2k + k) / n; signed -(2k - k) / n.
    EXPECT_NEAR(tracker.last()[0], abs_grad ? 3.0 * k / n : -1.0 * k / n, 1e-9) << abs_grad;
  }
}

TEST(Sensitivity, CosineWeightsTheValidationRecord) {
  OneModule one;
  const double k = static_cast<double>(one.tensors()), n = one.n();
  SensitivityTracker tracker(1, SensitivityOptions{0.0, Criterion::TrainValCos1, true});
  one.set(2.0);
  tracker.record_validation(one.modules);
  one.set(-1.0);  // opposite direction: cosine -1 in every tensor
  tracker.update_from_train(one.modules);
  EXPECT_NEAR(tracker.last()[0], (k - 2.0 * k) / n, 1e-9);
  // A removed module gets no record: its EMA stays.
  one.modules[0].removed = true;
  const double before = tracker.smoothed()[0];
  tracker.update_from_train(one.modules);
  EXPECT_EQ(tracker.smoothed()[0], before);
}

TEST(Sensitivity, SignalToNoiseScoresIgnoreAModulesGradientScaleAndPreferSteadyRecords) {
  // Module b sees module a's gradients times 5 (as a module nearer the output might); module c sees the
  // same mean gradient as a with twice a's spread around it.
  const std::vector<double> g = {1.0, 3.0, 2.0, 1.5, 2.5, 1.0, 3.0, 2.0};
  const auto run = [&](bool snr, double scale, double spread) {
    OneModule one;
    SensitivityTracker tracker(1, SensitivityOptions{0.8, Criterion::Train, true, snr});
    for (double x : g) {
      one.set(scale * (2.0 + spread * (x - 2.0)));
      tracker.update_from_train(one.modules);
    }
    return std::make_pair(tracker.scores()[0], tracker.smoothed()[0]);
  };
  const auto a = run(true, 1.0, 1.0), b = run(true, 5.0, 1.0), c = run(true, 1.0, 2.0);
  EXPECT_NEAR(b.second, 5.0 * a.second, 1e-9);  // the plain score follows the scale
  EXPECT_NEAR(b.first, a.first, 1e-9 * a.first);  // the ratio does not
  EXPECT_GT(a.first, 0.0);
  EXPECT_LT(c.first, a.first);  // a noisier module scores lower
  // Without snr the scores are the smoothed sensitivities and no spread is kept.
  const auto plain = run(false, 1.0, 1.0);
  EXPECT_DOUBLE_EQ(plain.first, plain.second);
  EXPECT_DOUBLE_EQ(plain.second, a.second);
}

TEST(Sensitivity, SpreadRoundTripsThroughRestoreAndSnrRefusesGateEffect) {
  SensitivityTracker tracker(2, SensitivityOptions{0.9, Criterion::Train, true, true});
  tracker.restore({2.0, 3.0}, {0.5, 0.0});
  EXPECT_EQ(tracker.spread(), (std::vector<double>{0.5, 0.0}));
  EXPECT_EQ(tracker.scores(), (std::vector<double>{4.0, 0.0}));  // no spread yet: 0, never a division by 0
  tracker.restore({2.0, 3.0});                                    // a state saved without spreads
  EXPECT_EQ(tracker.spread(), (std::vector<double>{0.0, 0.0}));
  EXPECT_THROW_WITH(tracker.restore({1.0}), ConfigError, "resume with the original options");
  EXPECT_THROW_WITH(SensitivityTracker(1, SensitivityOptions{0.9, Criterion::GateEffect, true, true}), ConfigError,
                    "gate_effect");
}

TEST(Sensitivity, ARecordCountsOnlyTheParametersActiveAtTheModulesRank) {
  // The same products per active parameter at rank 1 and at rank 2 give the same score: theta * grad
  // is zero outside the active slice, so a module must not score lower for the rank it ran at.
  std::vector<double> scores;
  for (int64_t rank : {1, 2}) {
    OneModule one;
    auto& m = *one.modules[0].module;
    m.set_gate(peft::Gate::fixed(rank));
    {
      at::NoGradGuard ng;  // theta = 1, gradient 1 on the active slice (rows of A, columns of B), 0 elsewhere
      auto named = m.named_parameters();
      auto a = named["A"], b = named["B"];
      a.fill_(1.0);
      b.fill_(1.0);
      auto ga = at::zeros_like(a), gb = at::zeros_like(b);
      ga.narrow(0, 0, rank).fill_(1.0);
      gb.narrow(1, 0, rank).fill_(1.0);
      a.mutable_grad() = ga;
      b.mutable_grad() = gb;
    }
    SensitivityTracker tracker(1, SensitivityOptions{0.0, Criterion::Train, true});
    tracker.update_from_train(one.modules);
    EXPECT_DOUBLE_EQ(active_params(m), static_cast<double>(m.param_count(rank)));
    scores.push_back(tracker.last()[0]);
  }
  EXPECT_NEAR(scores[0], 1.0, 1e-9);
  EXPECT_NEAR(scores[1], 1.0, 1e-9);
}

TEST(GateEffect, FitsKnownEffectsFromRandomOnOffSamples) {
  // loss = 1 - 0.3 on0 - 0.1 on2 + 0.05 on3 (+ small noise); module 1 does nothing.
  const std::vector<double> truth{0.3, 0.0, 0.1, -0.05};
  GateEffectRegression reg(4, 0.995);
  std::mt19937_64 rng(3);
  std::bernoulli_distribution coin(0.5);
  std::normal_distribution<double> noise(0.0, 0.01);
  EXPECT_EQ(reg.effects(), std::vector<double>(4, 0.0)) << "no fit before there are enough samples";
  for (int t = 0; t < 400; ++t) {
    std::vector<double> on(4);
    double loss = 1.0;
    for (size_t i = 0; i < 4; ++i) {
      on[i] = coin(rng) ? 1.0 : 0.0;
      loss -= truth[i] * on[i];
    }
    reg.add(on, loss + noise(rng));
  }
  const auto e = reg.effects();
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(e[i], truth[i], 0.01) << "module " << i;
  // A module that is always off (removed) is held at zero by the ridge, the others stay.
  GateEffectRegression held(3, 1.0);
  for (int t = 0; t < 200; ++t) {
    const double a = coin(rng) ? 1.0 : 0.0;
    const double b = coin(rng) ? 1.0 : 0.0;
    held.add({a, b, 0.0}, 2.0 - 0.5 * a - 0.2 * b);
  }
  const auto h = held.effects();
  EXPECT_NEAR(h[0], 0.5, 0.01);
  EXPECT_NEAR(h[1], 0.2, 0.01);
  EXPECT_NEAR(h[2], 0.0, 1e-9);
}

TEST(GateEffect, ForgettingFollowsAChangeAndTheStateRoundTrips) {
  GateEffectRegression reg(2, 0.95);
  std::mt19937_64 rng(5);
  std::bernoulli_distribution coin(0.5);
  auto feed = [&](GateEffectRegression& r, double effect0, int n) {
    for (int t = 0; t < n; ++t) {
      const double a = coin(rng) ? 1.0 : 0.0, b = coin(rng) ? 1.0 : 0.0;
      r.add({a, b}, 1.0 - effect0 * a - 0.1 * b);
    }
  };
  feed(reg, 0.4, 200);
  EXPECT_NEAR(reg.effects()[0], 0.4, 0.01);
  feed(reg, 0.0, 300);  // the module stops mattering: the fit forgets its old effect
  EXPECT_NEAR(reg.effects()[0], 0.0, 0.01);
  EXPECT_NEAR(reg.effects()[1], 0.1, 0.01);

  GateEffectRegression copy(2, 0.95);
  copy.restore(reg.state(), reg.samples());
  EXPECT_EQ(copy.effects(), reg.effects());
  EXPECT_EQ(copy.samples(), reg.samples());
  GateEffectRegression other(3, 0.95);
  EXPECT_THROW_WITH(other.restore(reg.state(), reg.samples()), ConfigError, "does not match a search over 3 modules");
  EXPECT_THROW_WITH(reg.add({1.0}, 0.5), ConfigError, "a sample has 1 gates, the search 2");
  EXPECT_THROW(GateEffectRegression(2, 0.0), ConfigError);
}

TEST(GateEffect, TrackerReportsTheFittedEffectPerParameter) {
  OneModule one;
  SensitivityTracker tracker(1, SensitivityOptions{0.85, Criterion::GateEffect, true});
  ASSERT_NE(tracker.regression(), nullptr);
  EXPECT_FALSE(tracker.ready()) << "no fit yet";
  for (int t = 0; t < 100; ++t) tracker.record_sample({t % 2 == 0 ? 1.0 : 0.0}, t % 2 == 0 ? 0.5 : 0.8);
  tracker.update_from_train(one.modules);
  ASSERT_TRUE(tracker.ready());
  EXPECT_NEAR(tracker.smoothed()[0], 0.3 / 10.0, 5e-4);  // saves 0.3 of loss, n = 10 (the ridge shrinks it by ~0.4%)
  SensitivityTracker plain(1, SensitivityOptions{});
  EXPECT_EQ(plain.regression(), nullptr);
  EXPECT_TRUE(plain.ready());
  plain.record_sample({1.0}, 0.5);  // ignored by the product criteria
}

}  // namespace
}  // namespace bipeft::search
