#include "bipeft/baselines/bayes_opt.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/core/random.h"

namespace bipeft::baselines {

namespace {

at::Tensor encode(const std::vector<Config>& cs, const std::vector<int64_t>& choices) {
  const int64_t n = static_cast<int64_t>(cs.size()), d = static_cast<int64_t>(choices.size());
  auto x = at::zeros({n, d}, at::kDouble);
  auto a = x.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      a[i][j] = choices[j] > 1 ? static_cast<double>(cs[i][j]) / static_cast<double>(choices[j] - 1) : 0.0;
  return x;
}

at::Tensor rbf(const at::Tensor& a, const at::Tensor& b, double length) {
  auto d2 = at::cdist(a, b).pow(2);
  return at::exp(-d2 / (2.0 * length * length));
}

struct Fit {
  at::Tensor x, chol, alpha;  // training inputs, Cholesky factor of K, K^-1 y
  double length = 1, mean = 0, scale = 1, best = 0;
};

Fit fit(const std::vector<Config>& xs, const std::vector<double>& ys, const std::vector<int64_t>& choices,
        double noise) {
  Fit f;
  f.x = encode(xs, choices);
  const double n = static_cast<double>(ys.size());
  f.mean = std::accumulate(ys.begin(), ys.end(), 0.0) / n;
  double var = 0;
  for (double y : ys) var += (y - f.mean) * (y - f.mean);
  f.scale = ys.size() > 1 && var > 0 ? std::sqrt(var / (n - 1)) : 1.0;
  auto y = at::tensor(ys, at::kDouble).sub(f.mean).div(f.scale).unsqueeze(1);
  f.best = (*std::max_element(ys.begin(), ys.end()) - f.mean) / f.scale;
  const double d = static_cast<double>(std::max<size_t>(1, choices.size()));
  double best_lml = -INFINITY;
  for (double rel : {0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5}) {
    const double length = rel * std::sqrt(d);
    auto k = rbf(f.x, f.x, length) + at::eye(f.x.size(0), at::kDouble) * (noise + 1e-9);
    auto chol = at::linalg_cholesky(k);
    auto alpha = at::cholesky_solve(y, chol);
    // log p(y) = -1/2 y^T K^-1 y - sum log diag L - n/2 log 2 pi
    const double lml = -0.5 * (y * alpha).sum().item<double>() - chol.diagonal().log().sum().item<double>();
    if (lml > best_lml) {
      best_lml = lml;
      f.length = length;
      f.chol = chol;
      f.alpha = alpha;
    }
  }
  return f;
}

void posterior(const Fit& f, const at::Tensor& xq, at::Tensor& mu, at::Tensor& sd) {
  auto ks = rbf(f.x, xq, f.length);  // [n, q]
  mu = ks.transpose(0, 1).matmul(f.alpha).squeeze(1);
  auto v = at::linalg_solve_triangular(f.chol, ks, /*upper=*/false);
  sd = (1.0 - v.pow(2).sum(0)).clamp_min(1e-12).sqrt();
}

}  // namespace

BayesOpt::BayesOpt(std::vector<int64_t> choices, uint64_t seed, std::function<bool(const Config&)> feasible,
                   BayesOptOptions options)
    : choices_(std::move(choices)), feasible_(std::move(feasible)), options_(options), rng_(seed) {
  if (choices_.empty()) throw ConfigError("Bayesian optimisation needs at least one dimension");
  for (int64_t c : choices_)
    if (c < 1) throw ConfigError("every dimension needs at least one choice");
}

bool BayesOpt::seen(const Config& c) const { return std::find(xs_.begin(), xs_.end(), c) != xs_.end(); }

Config BayesOpt::random_feasible() {
  for (int64_t draw = 0; draw < options_.max_draws; ++draw) {
    // A random density per draw, so sparse and dense configurations are both proposed.
    const double density = uniform_unit(rng_);
    Config c(choices_.size());
    for (size_t j = 0; j < c.size(); ++j) {
      if (choices_[j] == 2) c[j] = uniform_unit(rng_) < density ? 1 : 0;
      else c[j] = static_cast<int64_t>(uniform_below(rng_, static_cast<uint64_t>(choices_[j])));
    }
    if (feasible_(c) && !seen(c)) return c;
  }
  throw ConfigError("no feasible configuration found in " + std::to_string(options_.max_draws) +
                    " random draws; the budget may be too small for this space");
}

void BayesOpt::observe(const Config& c, double value) {
  if (c.size() != choices_.size()) throw ConfigError("observed configuration has the wrong length");
  xs_.push_back(c);
  ys_.push_back(value);
}

int64_t BayesOpt::best() const {
  if (ys_.empty()) return -1;
  return static_cast<int64_t>(std::max_element(ys_.begin(), ys_.end()) - ys_.begin());
}

void BayesOpt::predict(const std::vector<Config>& cs, std::vector<double>& mean, std::vector<double>& sd) const {
  if (xs_.empty()) throw ConfigError("the surrogate has no observations yet");
  const auto f = fit(xs_, ys_, choices_, options_.noise);
  at::Tensor mu, s;
  posterior(f, encode(cs, choices_), mu, s);
  mean.resize(cs.size());
  sd.resize(cs.size());
  for (size_t i = 0; i < cs.size(); ++i) {
    mean[i] = mu[static_cast<int64_t>(i)].item<double>() * f.scale + f.mean;
    sd[i] = s[static_cast<int64_t>(i)].item<double>() * f.scale;
  }
}

std::vector<double> BayesOpt::expected_improvement(const std::vector<Config>& cs) const {
  if (xs_.empty()) throw ConfigError("the surrogate has no observations yet");
  const auto f = fit(xs_, ys_, choices_, options_.noise);
  at::Tensor mu, s;
  posterior(f, encode(cs, choices_), mu, s);
  auto imp = mu - f.best - options_.xi;
  auto z = imp / s;
  auto cdf = 0.5 * at::erfc(-z / std::sqrt(2.0));
  auto pdf = at::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI);
  auto ei = (imp * cdf + s * pdf).clamp_min(0.0).contiguous();
  return std::vector<double>(ei.data_ptr<double>(), ei.data_ptr<double>() + ei.numel());
}

Config BayesOpt::propose() {
  if (static_cast<int64_t>(xs_.size()) < options_.initial) return random_feasible();
  std::vector<Config> pool;
  std::set<Config> in_pool;
  auto add = [&](const Config& c) {
    if (feasible_(c) && !seen(c) && in_pool.insert(c).second) pool.push_back(c);
  };
  // One-step neighbours of the three best observations: flip/shift one dimension.
  std::vector<size_t> order(ys_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ys_[a] > ys_[b]; });
  for (size_t k = 0; k < std::min<size_t>(3, order.size()); ++k) {
    const auto& base = xs_[order[k]];
    for (size_t j = 0; j < base.size(); ++j)
      for (int64_t v = 0; v < choices_[j]; ++v)
        if (v != base[j]) {
          auto c = base;
          c[j] = v;
          add(c);
        }
  }
  for (int64_t i = 0; i < options_.pool; ++i) {
    try {
      add(random_feasible());
    } catch (const ConfigError&) {
      break;
    }
  }
  if (pool.empty()) throw ConfigError("no unobserved feasible configuration is left to propose");
  const auto ei = expected_improvement(pool);
  return pool[static_cast<size_t>(std::max_element(ei.begin(), ei.end()) - ei.begin())];
}

}  // namespace bipeft::baselines
