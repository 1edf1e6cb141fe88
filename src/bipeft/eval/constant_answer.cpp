#include "bipeft/eval/constant_answer.h"

#include <algorithm>
#include <map>

#include "bipeft/core/error.h"
#include "bipeft/eval/metrics.h"

namespace bipeft::eval {

ConstantAnswer constant_answer(const data::TaskData& task, const std::vector<data::Example>& choose_on,
                               const std::vector<data::Example>& score_on) {
  if (choose_on.empty() || score_on.empty())
    throw FormatError("constant answer of " + task.name + ": a split is empty");
  std::vector<std::string> candidates = task.labels;
  if (candidates.empty()) {  // regression / free text: the distinct targets, most frequent first
    std::map<std::string, int64_t> count;
    for (const auto& e : choose_on) ++count[e.target];
    std::vector<std::pair<int64_t, std::string>> by_count;
    for (const auto& [t, n] : count) by_count.push_back({-n, t});
    std::sort(by_count.begin(), by_count.end());
    for (size_t i = 0; i < by_count.size() && i < 16; ++i) candidates.push_back(by_count[i].second);
  }
  ConstantAnswer out;
  double best_value = -1e300;
  for (const auto& c : candidates) {
    auto m = score(task, std::vector<std::string>(choose_on.size(), c), choose_on);
    const double v = m.empty() ? 0.0 : m.front().second;
    if (v > best_value) {
      best_value = v;
      out.prediction = c;
      out.chosen_metrics = std::move(m);
    }
  }
  out.metrics = score(task, std::vector<std::string>(score_on.size(), out.prediction), score_on);
  return out;
}

}  // namespace bipeft::eval
