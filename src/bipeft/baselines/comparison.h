#pragma once
// The results of `bipeft compare`: one cell per (task, method, seed) and the tables made from them,
// in the shape of the paper's Table 1 (test score mean ± std per task, average, parameter ratio) and
// Table 3 (search time, retrain time and their ratio), as Markdown, JSON and an SVG chart.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bipeft::baselines {

struct CellResult {
  std::string task, method;
  uint64_t seed = 0;
  std::string metric;                     // the task's first metric (model selection and the tables)
  double dev = 0, test = 0;               // that metric on dev (best epoch) and test
  nlohmann::json dev_metrics, test_metrics;
  double trainable_params = 0, backbone_params = 0;
  bool searched = false;                  // a search method (search_seconds is meaningful)
  double search_seconds = 0, retrain_seconds = 0;
  nlohmann::json to_json() const;
  /// FormatError naming `where` when a field is missing or has the wrong type.
  static CellResult from_json(const nlohmann::json& j, const std::string& where);
};

struct ComparisonReport {
  std::string table1_markdown;   // scores
  std::string table3_markdown;   // search/retrain times (search methods only)
  nlohmann::json json;           // every aggregate plus the cells
  std::string chart_svg;         // grouped bars: mean test score per task and method
};

/// Aggregates `cells` over seeds, in the order of `tasks` and `methods` (missing cells are shown as
/// "–" and counted in "cells_missing"). Std is the sample standard deviation (0 for one seed).
ComparisonReport summarize(const std::vector<CellResult>& cells, const std::vector<std::string>& tasks,
                           const std::vector<std::string>& methods, const std::string& title);

}  // namespace bipeft::baselines
