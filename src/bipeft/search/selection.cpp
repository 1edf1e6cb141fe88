#include "bipeft/search/selection.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

namespace bipeft::search {

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na == 0 || nb == 0) return 0.0;
  return dot / std::sqrt(na * nb);
}

std::vector<double> importance_indicator(const std::vector<double>& s, const std::vector<bool>& removed,
                                         const std::vector<double>& sizes, double budget) {
  const size_t n = s.size();
  std::vector<size_t> order;
  for (size_t i = 0; i < n; ++i)
    if (!removed[i]) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] > s[b]; });
  std::vector<double> ind(n, 0.0);
  double acc = 0;
  for (size_t i : order) {
    if (acc >= budget) break;
    if (acc + sizes[i] <= budget) {
      ind[i] = 1.0;
      acc += sizes[i];
    }
  }
  return ind;
}

bool TriggerDetector::update(const std::vector<double>& indicator, double* stability) {
  bool trigger = false;
  double rho = NAN;
  // §7: no trigger until more than `window` indicators were seen (|R| >= window + 1).
  if (seen_ > window_ && !recent_.empty()) {
    rho = 0;
    for (const auto& r : recent_) rho += cosine(indicator, r);
    rho /= static_cast<double>(recent_.size());
    trigger = rho >= threshold_;
  }
  if (stability) *stability = rho;
  recent_.push_back(indicator);
  while (static_cast<int64_t>(recent_.size()) > window_) recent_.pop_front();
  ++seen_;
  return trigger;
}

std::vector<double> stack_balanced_scores(const std::vector<double>& scores, const std::vector<std::string>& sites,
                                          const std::vector<bool>& removed) {
  if (sites.size() != scores.size() || removed.size() != scores.size())
    throw std::invalid_argument("stack_balanced_scores: " + std::to_string(scores.size()) + " scores, " + std::to_string(sites.size()) +
                      " sites, " + std::to_string(removed.size()) + " removed flags");
  const auto stack = [&](size_t i) { return sites[i].substr(0, sites[i].find('.')); };
  std::map<std::string, std::vector<double>> kept;
  for (size_t i = 0; i < scores.size(); ++i)
    if (!removed[i]) kept[stack(i)].push_back(scores[i]);
  std::map<std::string, double> median;
  for (auto& [name, v] : kept) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    median[name] = n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }
  std::vector<double> out(scores.size(), 0.0);
  for (size_t i = 0; i < scores.size(); ++i) {
    if (removed[i]) continue;
    const double m = median[stack(i)];
    out[i] = m > 0 ? scores[i] / m : scores[i];
  }
  return out;
}

double removal_amount(double expected, double budget, int64_t remaining_triggers) {
  return (expected - budget) / static_cast<double>(std::max<int64_t>(1, remaining_triggers));
}

std::vector<size_t> modules_to_remove(const std::vector<double>& s, const std::vector<bool>& removed,
                                      const std::vector<bool>& prunable, const std::vector<double>& sizes,
                                      double delta, bool force_one, bool in_order) {
  std::vector<size_t> order;
  for (size_t i = 0; i < s.size(); ++i)
    if (!removed[i] && prunable[i]) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] < s[b]; });
  std::vector<size_t> out;
  double acc = 0;
  for (size_t i : order) {
    if (acc > delta) break;
    if (acc + sizes[i] <= delta || (force_one && out.empty() && delta > 0)) {
      out.push_back(i);
      acc += sizes[i];
    } else if (in_order) {
      break;
    }
  }
  return out;
}

std::vector<size_t> repair_to_budget(const std::vector<double>& s, const std::vector<bool>& removed,
                                     const std::vector<bool>& prunable, const std::vector<double>& sizes,
                                     double excess) {
  std::vector<bool> gone = removed;
  std::vector<size_t> out;
  double left = excess;
  while (left > 0) {
    size_t best = s.size(), least = s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      if (gone[i] || !prunable[i] || sizes[i] <= 0) continue;
      if (least == s.size() || s[i] < s[least]) least = i;
      if (sizes[i] >= left &&
          (best == s.size() || sizes[i] < sizes[best] || (sizes[i] == sizes[best] && s[i] < s[best])))
        best = i;
    }
    const size_t pick = best != s.size() ? best : least;
    if (pick == s.size()) break;  // nothing left to remove
    out.push_back(pick);
    gone[pick] = true;
    left -= sizes[pick];
  }
  return out;
}

std::vector<size_t> close_last_removal(const std::vector<double>& s, const std::vector<bool>& removed,
                                       const std::vector<bool>& prunable, const std::vector<double>& sizes,
                                       double delta, std::vector<size_t> picked) {
  double acc = 0;
  std::vector<bool> in(s.size(), false);
  for (size_t i : picked) {
    acc += sizes[i];
    in[i] = true;
  }
  const double gap = delta - acc;
  if (gap <= 0) return picked;
  auto candidate = [&](size_t i) { return !removed[i] && !in[i] && prunable[i] && sizes[i] > 0; };
  // What the repair would waste: the smallest candidate that covers the gap alone.
  double repair_waste = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < s.size(); ++i)
    if (candidate(i) && sizes[i] >= gap) repair_waste = std::min(repair_waste, sizes[i] - gap);
  size_t out_k = picked.size(), take = s.size();
  double best = repair_waste;
  for (size_t k = 0; k < picked.size(); ++k)
    for (size_t m = 0; m < s.size(); ++m) {
      if (!candidate(m)) continue;
      const double waste = sizes[m] - sizes[picked[k]] - gap;
      if (waste < 0) continue;
      const bool tie = waste == best && take != s.size() &&
                       (s[m] < s[take] || (s[m] == s[take] && s[picked[k]] > s[picked[out_k]]));
      if (waste < best || tie) {
        best = waste;
        out_k = k;
        take = m;
      }
    }
  if (take != s.size()) picked[out_k] = take;
  return picked;
}

std::vector<int64_t> fill_ranks_to_budget(const std::vector<std::vector<double>>& counts, std::vector<int64_t> start,
                                          const std::vector<double>& s, double room, bool may_lower) {
  double used = 0;
  for (size_t i = 0; i < counts.size(); ++i) used += counts[i].at(static_cast<size_t>(start.at(i)));
  std::vector<size_t> order(counts.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s.at(a) > s.at(b); });
  // Over the room: lower one module by one candidate at a time until the sum fits. The step that alone
  // covers the excess with the smallest cut goes first (like the repair's smallest covering module);
  // when no single step covers it, the least sensitive module (ties: the higher index) steps down.
  while (may_lower && used > room) {
    size_t pick = counts.size();
    double pick_cut = 0;
    bool pick_covers = false;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {  // least sensitive first
      const auto k = static_cast<size_t>(start[*it]);
      if (k == 0) continue;
      const double cut = counts[*it][k] - counts[*it][k - 1];
      const bool covers = used - cut <= room;
      if (pick == counts.size() || (covers && (!pick_covers || cut < pick_cut))) {
        pick = *it;
        pick_cut = cut;
        pick_covers = covers;
      }
    }
    if (pick == counts.size()) return start;  // every module at its smallest: the repair removes
    used -= pick_cut;
    --start[pick];
  }
  for (bool raised = true; raised;) {
    raised = false;
    for (size_t i : order) {
      const auto k = static_cast<size_t>(start[i]);
      if (k + 1 >= counts[i].size()) continue;
      const double grown = used - counts[i][k] + counts[i][k + 1];
      if (grown > room) continue;
      used = grown;
      ++start[i];
      raised = true;
      break;
    }
  }
  return start;
}

std::vector<double> dimension_stability(const at::Tensor& history) {
  TORCH_CHECK(history.dim() == 3 && history.size(0) >= 2, "dimension_stability needs [T>=2, N, |D|] snapshots");
  auto h = history.to(at::kDouble);
  auto spread = h.std(0, /*unbiased=*/true).mean(-1);  // [N]
  auto first = at::log_softmax(h[0], -1), last = at::log_softmax(h[h.size(0) - 1], -1);
  auto kl = (last.exp() * (last - first)).sum(-1);  // KL(softmax(last) || softmax(first))
  auto dsi = (spread * kl).contiguous();
  return {dsi.data_ptr<double>(), dsi.data_ptr<double>() + dsi.numel()};
}

double dimension_agreement(const std::vector<double>& first, const std::vector<double>& last) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    dot += first[i] * last[i];
    na += first[i] * first[i];
    nb += last[i] * last[i];
  }
  if (na == 0 || nb == 0) return 1.0;
  return dot / std::sqrt(na * nb);
}

int64_t fix_count(double g, int64_t n_free, int64_t remaining) {
  if (remaining <= 0) return 0;
  if (remaining == 1) return n_free;
  return std::min<int64_t>(n_free, static_cast<int64_t>(std::floor(g * static_cast<double>(n_free) / static_cast<double>(remaining))));
}

int64_t smallest_sufficient_candidate(const std::vector<double>& losses, double share) {
  if (losses.size() < 2) return -1;
  for (double l : losses)
    if (!std::isfinite(l)) return -1;
  double best = 0;
  for (size_t k = 1; k < losses.size(); ++k) best = std::max(best, losses[0] - losses[k]);
  if (!(best > 0)) return -1;
  for (size_t k = 1; k < losses.size(); ++k)
    if (losses[0] - losses[k] >= share * best) return static_cast<int64_t>(k - 1);
  return -1;  // not reached: the best candidate saves share * best
}

}  // namespace bipeft::search
