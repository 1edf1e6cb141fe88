#pragma once
// SVG figures of a search: the budget curve and the structure heat-map.
#include <array>
#include <string>
#include <vector>

#include "bipeft/model/site.h"
#include "bipeft/peft/structure.h"

namespace bipeft::search {

/// Expected (E) and kept parameters per step with the budget as a horizontal line.
std::string budget_curve_svg(const std::vector<std::array<double, 3>>& curve, double budget, const std::string& title);

/// Layer x position grid (encoder blocks, then decoder blocks, then final norms); each cell is one
/// (method, position); colour = rank for ranked methods, "kept" for vector methods, empty when absent.
std::string structure_heatmap_svg(const peft::Structure& structure, const std::vector<model::SiteInfo>& sites,
                                  const std::vector<int64_t>& ranks, const std::string& title);

}  // namespace bipeft::search
