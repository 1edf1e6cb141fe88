#include "bipeft/search/search_outputs.h"

#include <filesystem>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/search/plots.h"

namespace bipeft::search {

nlohmann::json structure_document(const SearchResult& result, const SearchOutputInfo& info) {
  if (info.backbone_params <= 0) throw ConfigError("search outputs: backbone_params must be > 0");
  auto doc = result.structure.to_json();
  const double backbone = static_cast<double>(info.backbone_params);
  doc["trainable_params"] = result.params;
  doc["backbone_params"] = info.backbone_params;
  doc["ratio"] = result.params / backbone;
  doc["per_myriad"] = 1e4 * result.params / backbone;
  doc["budget"] = result.budget;
  doc["task"] = info.task;
  doc["space"] = info.space;
  doc["method"] = info.method;
  return doc;
}

void write_search_outputs(const std::string& dir, const SearchResult& result, const SearchOutputInfo& info,
                          const std::vector<model::SiteInfo>& sites) {
  if (!std::filesystem::is_directory(dir)) throw IoError(dir + ": output folder does not exist");
  const auto path = [&](const char* f) { return (std::filesystem::path(dir) / f).string(); };
  io::write_json_atomic(path("structure.json"), structure_document(result, info));
  io::write_file_atomic(path("budget_curve.svg"),
                        budget_curve_svg(result.curve, result.budget, info.method + " search: " + info.task));
  io::write_file_atomic(path("structure_heatmap.svg"),
                        structure_heatmap_svg(result.structure, sites, info.ranks,
                                              "Selected structure (" + info.task + ", " + human_count(result.params) +
                                                  " parameters)"));
}

}  // namespace bipeft::search
