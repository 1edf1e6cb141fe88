// The architecture side of the supernet: how ranks are drawn in weight steps, the full-rank masked
// forward of the dimension stage (same output as the sampled slice, gradient for the larger
// candidates), and the rank cost.
#include "bipeft/search/architecture.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>

#include "bipeft/search/search_data.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::search {
namespace {

// The module's site hook (torch::nn::Module has an apply() too).
model::SiteHook& hook(peft::PeftModule& m) { return m; }

// A tiny LoRA supernet (ranks {1, 2, 4}) and its architecture.
struct TinySupernet {
  model::T5Model backbone = test::tiny_t5_with_real_vocab(2);
  SearchOptions options;
  Supernet net;
  at::Generator gen = at::detail::createCPUGenerator(11);
  std::unique_ptr<Architecture> arch;
  explicit TinySupernet(const std::string& space = "lora") {
    options.ranks = {1, 2, 4};
    SpaceOptions so;
    so.space = space;
    so.ranks = options.ranks;
    net = build_supernet(backbone, so, options.ranks, 3, 1000.0);
    arch = std::make_unique<Architecture>(net.modules, options.architecture(), gen);
  }
  ~TinySupernet() { net.model->detach_(); }
};

TEST(Architecture, WeightStepRanksAreArgmaxOrDrawsOverEveryCandidate) {
  TinySupernet t;
  auto& a = *t.arch;
  ASSERT_GT(a.beta.size(0), 0);
  {
    at::NoGradGuard ng;
    a.alpha.select(1, 1).fill_(20.0);  // every module on (hard Gumbel samples at tau 1)
    a.beta.zero_();
    a.beta.select(1, 2).fill_(1.0);  // argmax: candidate 2 (rank 4)
  }
  a.fix_dimension_(0, 0);  // module 0 fixed at rank 1
  a.sample_gates_(Architecture::Stage::Binary, 1.0, t.gen, Architecture::RankDraw::Argmax);
  const auto row0 = a.modules[0].beta_row;
  for (size_t i = 0; i < a.modules.size(); ++i) {
    const int64_t row = a.modules[i].beta_row;
    EXPECT_EQ(a.sampled_rank_index()[row], i == 0 ? 0 : 2);
    EXPECT_EQ(a.modules[i].module->active_rank(), i == 0 ? 1 : 4);
  }
  std::set<int64_t> seen;
  for (int k = 0; k < 60; ++k) {
    a.sample_gates_(Architecture::Stage::Binary, 1.0, t.gen, Architecture::RankDraw::Uniform);
    EXPECT_EQ(a.sampled_rank_index()[row0], 0) << "a fixed module keeps its rank";
    const auto& m = a.modules[1];
    const int64_t idx = a.sampled_rank_index()[m.beta_row];
    EXPECT_EQ(m.module->active_rank(), a.candidates[idx]);
    seen.insert(idx);
  }
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2})) << "uniform draws train every rank component";
  // Sandwich: the largest candidate about half of the time plus its uniform share (2/3 with 3
  // candidates), every other candidate about 1/6; 600 draws put each share within ~4 standard errors.
  std::vector<int64_t> counts(a.candidates.size(), 0);
  for (int k = 0; k < 600; ++k) {
    a.sample_gates_(Architecture::Stage::Binary, 1.0, t.gen, Architecture::RankDraw::Sandwich);
    EXPECT_EQ(a.sampled_rank_index()[row0], 0) << "a fixed module keeps its rank";
    const int64_t idx = a.sampled_rank_index()[a.modules[1].beta_row];
    EXPECT_EQ(a.modules[1].module->active_rank(), a.candidates[idx]);
    ++counts[idx];
  }
  const auto C = static_cast<double>(a.candidates.size());
  for (size_t k = 0; k < counts.size(); ++k) {
    const double expected = (k + 1 == counts.size() ? 0.5 : 0.0) + 0.5 / C;
    EXPECT_NEAR(counts[k] / 600.0, expected, 0.08) << "candidate " << k;
  }
  // Beta draws follow softmax(beta): with one candidate far ahead, that one.
  {
    at::NoGradGuard ng;
    a.beta.select(1, 1).fill_(30.0);
  }
  for (int k = 0; k < 10; ++k) {
    a.sample_gates_(Architecture::Stage::Binary, 1.0, t.gen, Architecture::RankDraw::Beta);
    EXPECT_EQ(a.sampled_rank_index()[a.modules[1].beta_row], 1);
  }
}

TEST(Architecture, FullRankDimensionStepActsAtTheSampledRankAndReachesLargerCandidates) {
  for (const char* space : {"lora", "s1"}) {
    TinySupernet t(space);
    auto& a = *t.arch;
    {
      at::NoGradGuard ng;  // non-zero up factors so that every component acts
      for (auto& p : t.net.model->trainable_parameters()) p.normal_(0.0, 0.5);
      a.beta.zero_();
      a.beta.select(1, 1).fill_(30.0);  // the dimension sample: candidate 1 (rank 2)
    }
    a.sample_gates_(Architecture::Stage::Dimension, 1.0, t.gen);
    size_t checked = 0;
    for (auto& m : a.modules) {
      if (!m.ranked) continue;
      const auto& g = m.module->gate();
      if (!m.module->zero_mask_is_absent()) continue;
      EXPECT_EQ(g.rank, 4) << m.module->id();
      EXPECT_EQ(g.effective_rank, 2) << m.module->id();
      EXPECT_EQ(m.module->effective_rank(), 2);
      ++checked;
    }
    EXPECT_GT(checked, 0u) << space;
  }
  // LoRA and the adapters: a rank-4 forward behind the 0/1 mask of rank 2 equals the rank-2 forward,
  // and the mask's gradient reaches components 3-4 (what beta's rank-4 candidate is credited with).
  for (const char* space : {"lora", "s1"}) {
    TinySupernet t(space);
    {
      at::NoGradGuard ng;
      for (auto& p : t.net.model->trainable_parameters()) p.normal_(0.0, 0.5);
    }
    size_t checked = 0;
    for (auto& m : t.arch->modules) {
      if (!m.ranked || !m.module->zero_mask_is_absent()) continue;
      model::SiteInfo site;
      for (const auto& si : t.backbone->sites())
        if (si.name == m.module->site_name()) site = si;
      const int64_t width = site.in_features > 0 ? site.in_features : t.backbone->config.d_model;
      auto x = at::randn({3, width});
      auto y = at::randn({3, site.out_features > 0 ? site.out_features : width});
      peft::Gate masked;
      masked.rank = 4;
      masked.effective_rank = 2;
      masked.mask = at::tensor({1.0f, 1.0f, 0.0f, 0.0f}).requires_grad_(true);
      m.module->set_gate(masked);
      auto full = hook(*m.module).apply(x, y);
      full.pow(2).sum().backward();
      const auto mask_grad = masked.mask.grad();
      m.module->set_gate(peft::Gate::fixed(2));
      auto slice = hook(*m.module).apply(x, y);
      EXPECT_TRUE(at::allclose(full, slice, 1e-5, 1e-5)) << m.module->id();
      EXPECT_GT(mask_grad.narrow(0, 2, 2).abs().sum().item<double>(), 1e-6)
          << m.module->id() << ": no gradient for the components above the sampled rank";
      ++checked;
    }
    EXPECT_GT(checked, 0u) << space;
  }
  // The paper's slice forward (--no-full-rank-gradient) runs the sample's slice only.
  TinySupernet p("lora");
  p.options.rank_gradient_full = false;
  Architecture paper(p.net.modules, p.options.architecture(), p.gen);
  {
    at::NoGradGuard ng;
    paper.beta.zero_();
    paper.beta.select(1, 1).fill_(30.0);
  }
  paper.sample_gates_(Architecture::Stage::Dimension, 1.0, p.gen);
  EXPECT_EQ(paper.modules.front().module->gate().rank, 2);
  EXPECT_EQ(paper.modules.front().module->gate().effective_rank, -1);
}

TEST(Architecture, RankCostPullsBetaTowardsTheSmallerRanks) {
  TinySupernet t;
  auto& a = *t.arch;
  EXPECT_FALSE(a.rank_cost(0.0).defined());
  auto cost = a.rank_cost(1.0);
  ASSERT_TRUE(cost.defined());
  cost.backward();
  const auto g = a.beta.grad();
  // d cost / d beta_k is p_k (n_k - E[n]) / n_max: positive for the largest candidate, negative for the smallest.
  for (const auto& m : a.modules) {
    if (!m.ranked) continue;
    EXPECT_LT(g[m.beta_row][0].item<double>(), 0.0);
    EXPECT_GT(g[m.beta_row][2].item<double>(), 0.0);
  }
  // Fixed and removed modules cost nothing.
  for (size_t i = 0; i < a.modules.size(); ++i) a.fix_dimension_(i, 1);
  EXPECT_FALSE(a.rank_cost(1.0).defined());
}

// A synthetic dimension-stage loss: sum over ranked modules of w . mask, so dL/dy_k is the sum of w
// over the first candidates[k] components (negative = a saving).
at::Tensor mask_loss(Architecture& a, const std::vector<float>& w) {
  at::Tensor loss = at::zeros({});
  for (auto& m : a.modules) {
    if (!m.ranked || m.removed) continue;
    const auto& g = m.module->gate();
    if (!g.mask.defined()) continue;
    loss = loss + (g.mask.to(at::kFloat).narrow(0, 0, static_cast<int64_t>(w.size())) * at::tensor(w)).sum();
  }
  return loss;
}

// Runs `steps` dimension-stage steps of Adam on beta against mask_loss(w) plus the rank price `eps`;
// returns each ranked module's argmax candidate.
std::vector<int64_t> beta_choices_under_price(const std::vector<float>& w, double eps, int steps,
                                              std::vector<double>* gains = nullptr) {
  TinySupernet t;
  auto& a = *t.arch;
  torch::optim::Adam opt(std::vector<at::Tensor>{a.beta}, torch::optim::AdamOptions(0.05));
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    a.sample_gates_(Architecture::Stage::Dimension, 1.0, t.gen);
    auto loss = mask_loss(a, w);
    if (auto price = a.rank_price(eps); price.defined()) loss = loss + price;
    loss.backward();
    opt.step();
    a.observe_rank_gradient_(/*price_in_loss=*/true);
  }
  if (gains != nullptr) *gains = a.rank_gains();
  std::vector<int64_t> out;
  for (size_t i = 0; i < a.modules.size(); ++i)
    if (a.modules[i].ranked) out.push_back(a.candidate_index(i));
  return out;
}

TEST(Architecture, RankPriceBreaksTiesTowardsTheSmallerRankButNotARealSaving) {
  {
    TinySupernet t;
    t.arch->sample_gates_(Architecture::Stage::Dimension, 1.0, t.gen);
    EXPECT_FALSE(t.arch->rank_price(0.3).defined()) << "a price before any gain was observed";
    EXPECT_FALSE(t.arch->rank_price(0.0).defined());
  }
  // Components 1-2 save, 3-4 save nothing (ranks {1, 2, 4}): dL/dy = (-1, -2, -2), a tie of ranks 2 and 4.
  std::vector<double> gains;
  for (int64_t k : beta_choices_under_price({-1, -1, 0, 0}, 0.3, 150, &gains)) EXPECT_EQ(k, 1);
  ASSERT_FALSE(gains.empty());
  for (double g : gains) EXPECT_NEAR(g, 1.0, 1e-4) << "gain range = max - min of dL/dy without the price";
  // Every component saves: dL/dy = (-1, -2, -4); the price (0.3 x 3 x share) does not outweigh it.
  for (int64_t k : beta_choices_under_price({-1, -1, -1, -1}, 0.3, 150)) EXPECT_EQ(k, 2);
  // Without the price a tie stays a tie: beta's ranks 2 and 4 receive the same gradient, so a module
  // whose argmax is the smallest rank after a step is never the outcome; both ties occur over modules.
  for (int64_t k : beta_choices_under_price({-1, -1, 0, 0}, 0.0, 150)) EXPECT_NE(k, 0);
}

TEST(Architecture, RankEnergyFixesTheSmallestRankHoldingTheShareOfTheComponentEnergy) {
  TinySupernet t;  // LoRA, ranks {1, 2, 4}
  auto& a = *t.arch;
  {
    at::NoGradGuard ng;
    a.beta.zero_();
    a.beta.select(1, 2).fill_(1.0);  // argmax beta: rank 4
  }
  size_t i = 0;
  while (!a.modules[i].ranked) ++i;
  auto params = a.modules[i].module->named_parameters();
  auto A = params["A"], B = params["B"];
  {
    at::NoGradGuard ng;  // components 1-2 act (norm products 2 and 1), 3-4 do not
    A.fill_(1.0 / std::sqrt(static_cast<double>(A.size(1))));  // unit rows
    B.zero_();
    B.select(1, 0).fill_(2.0 / std::sqrt(static_cast<double>(B.size(0))));
    B.select(1, 1).fill_(1.0 / std::sqrt(static_cast<double>(B.size(0))));
  }
  const auto w = a.modules[i].module->component_weights();
  ASSERT_EQ(w.size(), 4u);
  EXPECT_NEAR(w[0], 2.0, 1e-5);
  EXPECT_NEAR(w[1], 1.0, 1e-5);
  EXPECT_NEAR(w[2], 0.0, 1e-9);
  EXPECT_EQ(a.chosen_index(i, 0.0), 2) << "energy 0: argmax beta";
  EXPECT_EQ(a.chosen_index(i, 0.9), 1) << "rank 2 holds all the energy";
  EXPECT_EQ(a.chosen_index(i, 0.75), 0) << "rank 1 holds 4 / 5 of it";
  {
    at::NoGradGuard ng;  // every component acts alike: only the largest rank holds 90%
    B.fill_(1.0 / std::sqrt(static_cast<double>(B.size(0))));
  }
  EXPECT_EQ(a.chosen_index(i, 0.9), 2);
  // The fix records the choice; a fixed module keeps it.
  a.fix_dimension_(i, a.chosen_index(i, 0.9));
  EXPECT_EQ(a.candidate_index(i), 2);
  {
    at::NoGradGuard ng;
    B.zero_();  // no energy at all: nothing to go by, argmax beta (here: the recorded candidate)
  }
  EXPECT_EQ(a.chosen_index(i, 0.9), 2);
}

}  // namespace
}  // namespace bipeft::search
