#include "bipeft/search/plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "bipeft/core/line_chart.h"
#include "bipeft/core/strings.h"

namespace bipeft::search {

std::string budget_curve_svg(const std::vector<std::array<double, 3>>& curve, double budget, const std::string& title) {
  LineChart chart;
  chart.title = title;
  chart.x_label = "step";
  chart.y_label = "parameters";
  chart.counts = true;
  ChartSeries expected{"expected E", "#1f77b4", {}, false}, kept{"kept (current ranks)", "#d62728", {}, false};
  for (const auto& p : curve) {
    expected.points.push_back({p[0], p[1]});
    kept.points.push_back({p[0], p[2]});
  }
  chart.series = {expected, kept};
  chart.lines = {{"budget " + human_count(budget), budget, "black"}};
  return line_chart_svg(chart);
}

std::string structure_heatmap_svg(const peft::Structure& structure, const std::vector<model::SiteInfo>& sites,
                                  const std::vector<int64_t>& ranks, const std::string& title) {
  // Columns: every (method, position) present in the structure, in a stable order.
  std::map<std::string, const model::SiteInfo*> by_name;
  for (const auto& s : sites) by_name.emplace(s.name, &s);
  std::vector<std::string> columns;
  std::set<std::string> seen_col;
  std::map<std::pair<std::string, std::string>, int64_t> cell;  // (row label, column) -> rank (0 = vector kept)
  auto row_label = [](const model::SiteInfo& s) {
    if (s.block < 0) return std::string(s.decoder ? "dec final" : "enc final");
    return std::string(s.decoder ? "dec " : "enc ") + std::to_string(s.block);
  };
  std::vector<std::string> rows;
  std::set<std::string> seen_row;
  for (const auto& s : sites) {
    auto r = row_label(s);
    if (seen_row.insert(r).second) rows.push_back(r);
  }
  for (const auto& m : structure.modules) {
    auto it = by_name.find(m.site);
    if (it == by_name.end()) continue;
    const std::string col = m.method + ":" + it->second->position;
    if (seen_col.insert(col).second) columns.push_back(col);
    cell[{row_label(*it->second), col}] = peft::method_info(m.method).ranked ? m.rank : 0;
  }
  std::sort(columns.begin(), columns.end());
  const double cw = 28, ch = 16, L = 80, T = 150;
  const double W = L + cw * std::max<size_t>(1, columns.size()) + 140, H = T + ch * rows.size() + 30;
  const int64_t rmax = ranks.empty() ? 8 : ranks.back();
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" font-family=\"sans-serif\" font-size=\"10\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"8\" y=\"18\" font-size=\"14\">" << xml_escape(title) << "</text>\n";
  for (size_t c = 0; c < columns.size(); ++c) {
    const double x = L + cw * c + cw / 2;
    s << "<text x=\"" << x << "\" y=\"" << T - 6 << "\" transform=\"rotate(-60 " << x << " " << T - 6 << ")\">" << xml_escape(columns[c]) << "</text>\n";
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    const double y = T + ch * r;
    s << "<text x=\"" << L - 6 << "\" y=\"" << y + ch - 4 << "\" text-anchor=\"end\">" << xml_escape(rows[r]) << "</text>\n";
    for (size_t c = 0; c < columns.size(); ++c) {
      auto it = cell.find({rows[r], columns[c]});
      std::string fill = "#f4f4f4";
      if (it != cell.end()) {
        if (it->second == 0) fill = "#2ca02c";
        else {
          const double f = std::log2(1.0 + it->second) / std::log2(1.0 + rmax);
          char b[16];
          std::snprintf(b, sizeof b, "#%02x%02x%02x", 255 - static_cast<int>(200 * f), 255 - static_cast<int>(160 * f), 255);
          fill = b;
        }
      }
      s << "<rect x=\"" << L + cw * c << "\" y=\"" << y << "\" width=\"" << cw - 1 << "\" height=\"" << ch - 1 << "\" fill=\"" << fill << "\"/>";
      if (it != cell.end() && it->second > 0)
        s << "<text x=\"" << L + cw * c + cw / 2 << "\" y=\"" << y + ch - 4 << "\" text-anchor=\"middle\">" << it->second << "</text>";
      s << "\n";
    }
  }
  const double lx = L + cw * columns.size() + 16;
  s << "<rect x=\"" << lx << "\" y=\"" << T << "\" width=\"12\" height=\"12\" fill=\"#2ca02c\"/><text x=\"" << lx + 16 << "\" y=\"" << T + 10 << "\">vector module kept</text>\n";
  s << "<rect x=\"" << lx << "\" y=\"" << T + 18 << "\" width=\"12\" height=\"12\" fill=\"#3760ff\"/><text x=\"" << lx + 16 << "\" y=\"" << T + 28 << "\">rank (number in cell)</text>\n";
  s << "<rect x=\"" << lx << "\" y=\"" << T + 36 << "\" width=\"12\" height=\"12\" fill=\"#f4f4f4\"/><text x=\"" << lx + 16 << "\" y=\"" << T + 46 << "\">not selected</text>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace bipeft::search
