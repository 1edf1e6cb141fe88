// eval::score: picks the metrics of a task and the text-to-label mapping of its format.
#include <set>

#include "bipeft/core/error.h"
#include "bipeft/data/prompt.h"
#include "bipeft/eval/metrics.h"
#include "bipeft/eval/postprocess.h"

namespace bipeft::eval {

namespace {

std::vector<double> gold_numbers(const std::vector<data::Example>& gold) {
  std::vector<double> out;
  out.reserve(gold.size());
  for (size_t i = 0; i < gold.size(); ++i) {
    double v = 0;
    if (!data::parse_number(gold[i].target, v))
      throw FormatError("gold example " + std::to_string(i + 1) + ": target '" + gold[i].target +
                        "' is not a number (regression task)");
    out.push_back(v);
  }
  return out;
}

std::vector<std::pair<std::string, double>> score_record(const data::TaskData& task,
                                                         const std::vector<std::string>& predictions,
                                                         const std::vector<data::Example>& gold) {
  // One prediction per query: ReCoRD repeats a query once per gold answer (T5 deduplicate_metric).
  std::vector<std::string> preds;
  std::vector<std::vector<std::string>> answers;
  std::set<int64_t> seen;
  for (size_t i = 0; i < gold.size(); ++i) {
    if (gold[i].group >= 0 && !seen.insert(gold[i].group).second) continue;
    preds.push_back(predictions[i]);
    answers.push_back(gold[i].answers);
  }
  const EmF1 s = squad_em_f1(preds, answers);
  std::vector<std::pair<std::string, double>> out;
  for (const auto& m : task.metrics) out.emplace_back(m, m == "em" ? s.em : s.f1);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, double>> score(const data::TaskData& task, const std::vector<std::string>& predictions,
                                                  const std::vector<data::Example>& gold) {
  if (predictions.size() != gold.size())
    throw FormatError(std::to_string(predictions.size()) + " predictions for " + std::to_string(gold.size()) +
                      " gold examples; give one prediction per gold example, in the same order");
  if (gold.empty()) throw FormatError("nothing to score: no gold examples");
  if (task.name == "record") return score_record(task, predictions, gold);

  std::vector<std::string> targets;
  std::vector<int64_t> groups;
  for (const auto& g : gold) {
    targets.push_back(g.target);
    groups.push_back(g.group);
  }
  std::vector<std::string> classes = task.labels;
  if (classes.empty() && !task.is_regression) {  // custom task scored without its files: classes from gold
    std::set<std::string> distinct(targets.begin(), targets.end());
    classes.assign(distinct.begin(), distinct.end());
  }
  std::vector<double> pred_numbers, target_numbers;
  if (task.is_regression) {
    target_numbers = gold_numbers(gold);
    for (const auto& p : predictions) pred_numbers.push_back(parse_float_or(p, -1.0));
  }

  std::vector<std::pair<std::string, double>> out;
  for (const auto& m : task.metrics) {
    double v = 0;
    if (m == "accuracy") {
      v = accuracy(predictions, targets);
    } else if (m == "f1") {
      if (classes.size() != 2)
        throw ConfigError("metric f1 needs exactly 2 classes; task " + task.name + " has " +
                          std::to_string(classes.size()));
      v = f1_binary(predictions, targets, classes[1], classes[0]);
    } else if (m == "macro_f1") {
      v = macro_f1(predictions, targets, classes);
    } else if (m == "mcc") {
      v = matthews(predictions, targets);
    } else if (m == "em") {
      v = group_exact_match(predictions, targets, groups);
    } else if (m == "pearson" || m == "spearman") {
      if (!task.is_regression) throw ConfigError("metric " + m + " needs a regression task");
      v = m == "pearson" ? pearson(pred_numbers, target_numbers) : spearman(pred_numbers, target_numbers);
    } else {
      throw ConfigError("unknown metric '" + m + "' for task " + task.name);
    }
    out.emplace_back(m, v);
  }
  return out;
}

}  // namespace bipeft::eval
