#include "bipeft/core/line_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "bipeft/core/strings.h"

namespace bipeft {

namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string tick(double v, bool counts) {
  if (counts) return human_count(v);
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

}  // namespace

std::string line_chart_svg(const LineChart& c) {
  const double W = 720, H = 400, L = 80, R = 20, T = 40, B = 50;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  auto usable = [&](double y) { return std::isfinite(y) && (!c.log_y || y > 0); };
  for (const auto& s : c.series)
    for (const auto& p : s.points) {
      if (!std::isfinite(p[0]) || !usable(p[1])) continue;
      xmin = std::min(xmin, p[0]);
      xmax = std::max(xmax, p[0]);
      ymin = std::min(ymin, p[1]);
      ymax = std::max(ymax, p[1]);
    }
  for (const auto& l : c.lines)
    if (usable(l.y)) {
      ymin = std::min(ymin, l.y);
      ymax = std::max(ymax, l.y);
    }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1;
  if (!std::isfinite(ymin)) ymin = c.log_y ? 1 : 0, ymax = c.log_y ? 10 : 1;
  if (xmax <= xmin) xmax = xmin + 1;
  double y0, y1;
  if (c.log_y) {
    y0 = std::floor(std::log10(ymin) * 4) / 4;
    y1 = std::ceil(std::log10(ymax) * 4) / 4;
    if (y1 <= y0) y1 = y0 + 0.25;
  } else {
    y0 = std::min(c.y_min, ymin);
    y1 = ymax + 0.08 * (ymax - y0);
    if (y1 <= y0) y1 = y0 + 1;
  }
  auto X = [&](double x) { return L + (W - L - R) * (x - xmin) / (xmax - xmin); };
  auto Y = [&](double y) {
    const double v = c.log_y ? std::log10(y) : y;
    return H - B - (H - T - B) * (v - y0) / (y1 - y0);
  };
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << xml_escape(c.title) << "</text>\n";
  s << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n";
  s << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n";
  for (int k = 0; k <= 5; ++k) {
    const double v = y0 + (y1 - y0) * k / 5;
    const double y = c.log_y ? std::pow(10.0, v) : v;
    const double x = xmin + (xmax - xmin) * k / 5;
    s << "<text x=\"" << L - 6 << "\" y=\"" << num(Y(y) + 4) << "\" text-anchor=\"end\">" << tick(y, c.counts) << "</text>\n";
    s << "<line x1=\"" << L << "\" y1=\"" << num(Y(y)) << "\" x2=\"" << W - R << "\" y2=\"" << num(Y(y))
      << "\" stroke=\"#eee\"/>\n";
    s << "<text x=\"" << num(X(x)) << "\" y=\"" << H - B + 18 << "\" text-anchor=\"middle\">" << tick(x, false)
      << "</text>\n";
  }
  s << "<text x=\"" << W / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">" << xml_escape(c.x_label) << "</text>\n";
  s << "<text x=\"16\" y=\"" << H / 2 << "\" transform=\"rotate(-90 16 " << H / 2 << ")\" text-anchor=\"middle\">"
    << xml_escape(c.y_label) << "</text>\n";
  for (const auto& l : c.lines) {
    if (!usable(l.y)) continue;
    s << "<line x1=\"" << L << "\" y1=\"" << num(Y(l.y)) << "\" x2=\"" << W - R << "\" y2=\"" << num(Y(l.y))
      << "\" stroke=\"" << xml_escape(l.color) << "\" stroke-dasharray=\"6,4\"/>\n";
  }
  for (const auto& sr : c.series) {
    s << "<polyline fill=\"none\" stroke=\"" << xml_escape(sr.color) << "\" stroke-width=\"1.6\""
      << (sr.dashed ? " stroke-dasharray=\"5,3\"" : "") << " points=\"";
    for (const auto& p : sr.points)
      if (std::isfinite(p[0]) && usable(p[1])) s << num(X(p[0])) << "," << num(Y(p[1])) << " ";
    s << "\"/>\n";
  }
  // Legend: series, then reference lines.
  const size_t entries = c.series.size() + c.lines.size();
  if (entries > 0) {
    const double lx = W - R - 220, h = 16.0 * static_cast<double>(entries) + 10;
    s << "<rect x=\"" << lx << "\" y=\"" << T << "\" width=\"210\" height=\"" << h
      << "\" fill=\"white\" stroke=\"#ccc\"/>\n";
    double y = T + 14;
    for (const auto& sr : c.series) {
      s << "<line x1=\"" << lx + 8 << "\" y1=\"" << y << "\" x2=\"" << lx + 30 << "\" y2=\"" << y << "\" stroke=\""
        << xml_escape(sr.color) << "\" stroke-width=\"2\"" << (sr.dashed ? " stroke-dasharray=\"5,3\"" : "")
        << "/><text x=\"" << lx + 36 << "\" y=\"" << y + 4 << "\">" << xml_escape(sr.name) << "</text>\n";
      y += 16;
    }
    for (const auto& l : c.lines) {
      s << "<line x1=\"" << lx + 8 << "\" y1=\"" << y << "\" x2=\"" << lx + 30 << "\" y2=\"" << y << "\" stroke=\""
        << xml_escape(l.color) << "\" stroke-dasharray=\"6,4\"/><text x=\"" << lx + 36 << "\" y=\"" << y + 4 << "\">"
        << xml_escape(l.name) << "</text>\n";
      y += 16;
    }
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace bipeft
