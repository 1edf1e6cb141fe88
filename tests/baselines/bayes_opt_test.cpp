// The Bayesian optimiser: proposals stay in the box, feasible and new; the GP interpolates what it
// saw; and on a toy objective it improves on its random initial design.
#include "bipeft/baselines/bayes_opt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "bipeft/core/error.h"

namespace bipeft::baselines {
namespace {

const std::vector<int64_t> kTarget = {1, 0, 1, 1, 0, 0, 1, 0, 0, 1};

// Toy objective over 10 bits plus a 3-way size: closeness to kTarget, and size 2 is best.
double toy(const Config& c) {
  double v = 0;
  for (size_t i = 0; i < kTarget.size(); ++i) v -= (c[i] - kTarget[i]) * (c[i] - kTarget[i]);
  return v - 0.5 * std::abs(static_cast<double>(c[10] - 2));
}

bool at_most_six(const Config& c) { return std::accumulate(c.begin(), c.begin() + 10, int64_t{0}) <= 6; }

std::vector<int64_t> box() {
  std::vector<int64_t> ch(10, 2);
  ch.push_back(3);
  return ch;
}

TEST(BayesOpt, ProposalsAreInTheBoxFeasibleAndNew) {
  BayesOpt opt(box(), 1, at_most_six);
  std::set<Config> seen;
  for (int i = 0; i < 25; ++i) {
    const auto c = opt.propose();
    ASSERT_EQ(c.size(), 11u);
    for (size_t j = 0; j < c.size(); ++j) {
      EXPECT_GE(c[j], 0);
      EXPECT_LT(c[j], box()[j]);
    }
    EXPECT_TRUE(at_most_six(c));
    EXPECT_TRUE(seen.insert(c).second) << "proposed twice";
    opt.observe(c, toy(c));
  }
}

TEST(BayesOpt, ImprovesOnItsInitialDesignOnAToyObjective) {
  for (uint64_t seed : {1, 2, 3}) {
    BayesOptOptions o;
    o.initial = 4;
    BayesOpt opt(box(), seed, at_most_six, o);
    for (int i = 0; i < 24; ++i) {
      const auto c = opt.propose();
      opt.observe(c, toy(c));
    }
    const auto& y = opt.values();
    const double initial_best = *std::max_element(y.begin(), y.begin() + 4);
    const double best = y[static_cast<size_t>(opt.best())];
    EXPECT_GT(best, initial_best) << "seed " << seed;
    EXPECT_GE(best, -1.0) << "seed " << seed << ": far from the optimum 0";
  }
}

TEST(BayesOpt, SurrogateInterpolatesObservationsAndEiIsNonNegative) {
  BayesOpt opt(box(), 5, at_most_six);
  std::vector<Config> xs;
  for (int i = 0; i < 8; ++i) {
    const auto c = opt.propose();
    opt.observe(c, toy(c));
    xs.push_back(c);
  }
  std::vector<double> mean, sd;
  opt.predict(xs, mean, sd);
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_NEAR(mean[i], toy(xs[i]), 0.05) << i;
    EXPECT_LT(sd[i], 0.1) << i;
  }
  Config far(11, 0);
  for (double e : opt.expected_improvement({far, xs[0]})) EXPECT_GE(e, 0.0);
}

TEST(BayesOpt, InfeasibleSpacesAreConfigErrors) {
  BayesOpt opt(box(), 1, [](const Config&) { return false; }, BayesOptOptions{4, 16, 0.01, 1e-4, 200});
  EXPECT_THROW(opt.propose(), ConfigError);
  EXPECT_THROW(BayesOpt({}, 1, at_most_six), ConfigError);
}

}  // namespace
}  // namespace bipeft::baselines
