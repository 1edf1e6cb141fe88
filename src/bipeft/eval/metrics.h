#pragma once
// Metrics of ALGORITHM.md §11.3 / FORMATS.md §C, all returned ×100 and never NaN. Conventions for
// degenerate inputs (documented in docs/data.md):
//   * empty input: every metric is 0;
//   * f1_binary: 0 when there are no positives predicted and none gold (sklearn's zero_division=0);
//   * macro_f1: a class absent from both predictions and gold scores 1 (zero_division=1, as S3Delta);
//   * matthews: 0 when the denominator is 0 (constant predictions or a single gold class);
//   * pearson / spearman: 0 with fewer than 2 values or zero variance on either side;
//   * squad_em_f1: a query without gold answers is skipped; none left -> 0.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bipeft/data/example.h"
#include "bipeft/data/task.h"

namespace bipeft::eval {

/// Percentage of exact string matches. Throws FormatError when the sizes differ (as do all below).
double accuracy(const std::vector<std::string>& predictions, const std::vector<std::string>& targets);

/// Binary F1 of class `positive`; a prediction that is neither `positive` nor `negative` counts as
/// wrong (it becomes the opposite of its target, as T5's f1_score_with_invalid).
double f1_binary(const std::vector<std::string>& predictions, const std::vector<std::string>& targets,
                 const std::string& positive, const std::string& negative);

/// Unweighted mean of the per-class F1 over `classes` (CB: 3 classes); invalid predictions match no class.
double macro_f1(const std::vector<std::string>& predictions, const std::vector<std::string>& targets,
                const std::vector<std::string>& classes);

/// Matthews correlation, multiclass form (sklearn), with every distinct string as a class, so invalid
/// predictions are their own class and count as wrong.
double matthews(const std::vector<std::string>& predictions, const std::vector<std::string>& targets);

/// Pearson correlation of two equally long series.
double pearson(const std::vector<double>& x, const std::vector<double>& y);
/// Spearman rank correlation (average ranks for ties).
double spearman(const std::vector<double>& x, const std::vector<double>& y);

/// Percentage of groups whose predictions all equal their targets (MultiRC exact match, grouped by
/// question); group -1 means a group of its own.
double group_exact_match(const std::vector<std::string>& predictions, const std::vector<std::string>& targets,
                         const std::vector<int64_t>& groups);

struct EmF1 {
  double em = 0;
  double f1 = 0;
};
/// SQuAD EM and token F1 after SQuAD normalisation, max over each prediction's gold answers, averaged
/// over predictions that have at least one answer.
EmF1 squad_em_f1(const std::vector<std::string>& predictions, const std::vector<std::vector<std::string>>& answers);

/// Scores predictions (generated text, already decoded and stripped) against gold examples of `task`.
/// Returns metric name -> value ×100 in the task's metric order (first = model-selection key).
/// ReCoRD keeps one prediction per query (group; the first). Throws FormatError when the counts differ
/// or there is nothing to score, and for gold targets that are not numbers in a regression task.
std::vector<std::pair<std::string, double>> score(const data::TaskData& task, const std::vector<std::string>& predictions,
                                                  const std::vector<data::Example>& gold);

}  // namespace bipeft::eval
