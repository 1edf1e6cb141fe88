#include "bipeft/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "bipeft/core/error.h"
#include "bipeft/eval/squad.h"

namespace bipeft::eval {

namespace {

template <typename A, typename B>
void check_sizes(const A& a, const B& b, const char* what) {
  if (a.size() != b.size())
    throw FormatError(std::string(what) + ": " + std::to_string(a.size()) + " predictions for " +
                      std::to_string(b.size()) + " targets");
}

/// 2tp / (2tp + fp + fn), or `if_undefined` when nothing was predicted or gold in this class.
double f1_from_counts(int64_t tp, int64_t fp, int64_t fn, double if_undefined) {
  const int64_t denom = 2 * tp + fp + fn;
  return denom == 0 ? if_undefined : 2.0 * static_cast<double>(tp) / static_cast<double>(denom);
}

std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

}  // namespace

double accuracy(const std::vector<std::string>& predictions, const std::vector<std::string>& targets) {
  check_sizes(predictions, targets, "accuracy");
  if (targets.empty()) return 0.0;
  int64_t hits = 0;
  for (size_t i = 0; i < targets.size(); ++i) hits += predictions[i] == targets[i];
  return 100.0 * static_cast<double>(hits) / static_cast<double>(targets.size());
}

double f1_binary(const std::vector<std::string>& predictions, const std::vector<std::string>& targets,
                 const std::string& positive, const std::string& negative) {
  check_sizes(predictions, targets, "f1");
  int64_t tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const bool gold = targets[i] == positive;
    const std::string& p = predictions[i];
    // An invalid prediction is the opposite of its target: a false negative or a false positive.
    const bool pred = (p == positive || p == negative) ? p == positive : !gold;
    tp += gold && pred;
    fp += !gold && pred;
    fn += gold && !pred;
  }
  return 100.0 * f1_from_counts(tp, fp, fn, 0.0);
}

double macro_f1(const std::vector<std::string>& predictions, const std::vector<std::string>& targets,
                const std::vector<std::string>& classes) {
  check_sizes(predictions, targets, "macro_f1");
  if (classes.empty() || targets.empty()) return 0.0;
  double sum = 0;
  for (const auto& c : classes) {
    int64_t tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < targets.size(); ++i) {
      const bool gold = targets[i] == c, pred = predictions[i] == c;
      tp += gold && pred;
      fp += !gold && pred;
      fn += gold && !pred;
    }
    sum += f1_from_counts(tp, fp, fn, 1.0);
  }
  return 100.0 * sum / static_cast<double>(classes.size());
}

double matthews(const std::vector<std::string>& predictions, const std::vector<std::string>& targets) {
  check_sizes(predictions, targets, "matthews");
  std::map<std::string, std::pair<double, double>> counts;  // class -> (gold count, predicted count)
  double correct = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    counts[targets[i]].first += 1;
    counts[predictions[i]].second += 1;
    correct += predictions[i] == targets[i];
  }
  const double n = static_cast<double>(targets.size());
  double tp = 0, pp = 0, tt = 0;
  for (const auto& [cls, c] : counts) {
    tp += c.first * c.second;
    pp += c.second * c.second;
    tt += c.first * c.first;
  }
  const double cov_tp = correct * n - tp, cov_pp = n * n - pp, cov_tt = n * n - tt;
  if (cov_pp * cov_tt <= 0) return 0.0;
  return 100.0 * cov_tp / std::sqrt(cov_tt * cov_pp);
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes(x, y, "pearson");
  const size_t n = x.size();
  if (n < 2) return 0.0;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return 0.0;
  const double r = sxy / std::sqrt(sxx * syy);
  return 100.0 * std::max(-1.0, std::min(1.0, r));
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes(x, y, "spearman");
  return pearson(average_ranks(x), average_ranks(y));
}

double group_exact_match(const std::vector<std::string>& predictions, const std::vector<std::string>& targets,
                         const std::vector<int64_t>& groups) {
  check_sizes(predictions, targets, "group exact match");
  check_sizes(groups, targets, "group exact match (groups)");
  if (targets.empty()) return 0.0;
  std::map<int64_t, bool> all_right;  // grouped questions
  int64_t singles = 0, singles_right = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const bool right = predictions[i] == targets[i];
    if (groups[i] < 0) {
      ++singles;
      singles_right += right;
      continue;
    }
    auto it = all_right.emplace(groups[i], true).first;
    it->second = it->second && right;
  }
  int64_t right_groups = singles_right;
  for (const auto& [g, ok] : all_right) right_groups += ok;
  const auto total = static_cast<double>(singles + static_cast<int64_t>(all_right.size()));
  return 100.0 * static_cast<double>(right_groups) / total;
}

EmF1 squad_em_f1(const std::vector<std::string>& predictions, const std::vector<std::vector<std::string>>& answers) {
  check_sizes(predictions, answers, "squad");
  EmF1 out;
  int64_t n = 0;
  for (size_t i = 0; i < predictions.size(); ++i) {
    if (answers[i].empty()) continue;
    double em = 0, f1 = 0;
    for (const auto& a : answers[i]) {
      em = std::max(em, squad_exact(predictions[i], a));
      f1 = std::max(f1, squad_f1(predictions[i], a));
    }
    out.em += em;
    out.f1 += f1;
    ++n;
  }
  if (n == 0) return EmF1{};
  out.em = 100.0 * out.em / static_cast<double>(n);
  out.f1 = 100.0 * out.f1 / static_cast<double>(n);
  return out;
}

}  // namespace bipeft::eval
