#pragma once
// The reference every score should be read against: the best a model can do that gives one answer
// to every input (the majority class for accuracy, "always positive" for F1, 0 for correlations).
// The answer is chosen on one split (dev: model selection, as for the models) and scored on another.
#include <string>
#include <utility>
#include <vector>

#include "bipeft/data/task.h"

namespace bipeft::eval {

struct ConstantAnswer {
  std::string prediction;                                // the answer given to every input
  std::vector<std::pair<std::string, double>> metrics;   // on the scored split, task metric order
  std::vector<std::pair<std::string, double>> chosen_metrics;  // on the split it was chosen on
  double primary() const { return metrics.empty() ? 0.0 : metrics.front().second; }
  double chosen_primary() const { return chosen_metrics.empty() ? 0.0 : chosen_metrics.front().second; }
};

/// Among the task's label strings (regression and free-text tasks: the targets found in `choose_on`),
/// the answer with the best first metric on `choose_on` (ties: the first label), scored on `score_on`.
/// FormatError when either split is empty.
ConstantAnswer constant_answer(const data::TaskData& task, const std::vector<data::Example>& choose_on,
                               const std::vector<data::Example>& score_on);

}  // namespace bipeft::eval
