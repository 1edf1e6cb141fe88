#pragma once
// A small SVG line chart (no dependencies): named series over a shared x axis, optional horizontal
// reference lines, linear or log y axis. Used for loss curves, budget curves and comparison plots.
#include <array>
#include <string>
#include <vector>

namespace bipeft {

struct ChartSeries {
  std::string name;
  std::string color = "#1f77b4";
  std::vector<std::array<double, 2>> points;  // (x, y); non-finite y values are skipped
  bool dashed = false;
};

struct ChartLine {  // horizontal reference line
  std::string name;
  double y = 0;
  std::string color = "black";
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<ChartSeries> series;
  std::vector<ChartLine> lines;
  bool log_y = false;       // log10 y axis (all plotted y must be > 0)
  bool counts = false;      // y tick labels as counts (12.3K) instead of plain numbers
  double y_min = 0;         // linear axis lower bound (ignored on a log axis)
};

/// The chart as an SVG document (720 x 400).
std::string line_chart_svg(const LineChart& chart);

}  // namespace bipeft
