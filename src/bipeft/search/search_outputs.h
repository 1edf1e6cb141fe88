#pragma once
// The files a structure search writes (docs/search.md § Outputs), in one place for the CLI and for
// programs that embed the library: structure.json (the input of `bipeft train --structure`), the
// budget curve and the structure heat map.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/model/site.h"
#include "bipeft/search/searcher.h"

namespace bipeft::search {

/// What a search's outputs record about the run beside the result itself.
struct SearchOutputInfo {
  std::string task;                 // canonical task name
  std::string space = "s2";         // the search space's name
  std::string method = "bipeft";    // the search method's canonical name
  int64_t backbone_params = 0;      // parameters of the frozen backbone (> 0)
  std::vector<int64_t> ranks;       // candidate ranks (the heat map's colour scale)
};

/// structure.json: the kept modules with their ranks, the exact trainable count, its ratio and
/// per-myriad share of the backbone, the budget, task, space and method.
nlohmann::json structure_document(const SearchResult& result, const SearchOutputInfo& info);

/// Writes structure.json, budget_curve.svg and structure_heatmap.svg into `dir` (which must exist),
/// each atomically. `sites` are the backbone's module sites (T5ModelImpl::sites()).
void write_search_outputs(const std::string& dir, const SearchResult& result, const SearchOutputInfo& info,
                          const std::vector<model::SiteInfo>& sites);

}  // namespace bipeft::search
