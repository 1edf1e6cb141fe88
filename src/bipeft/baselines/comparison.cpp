#include "bipeft/baselines/comparison.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/json_util.h"

namespace bipeft::baselines {

nlohmann::json CellResult::to_json() const {
  return {{"task", task},
          {"method", method},
          {"seed", seed},
          {"metric", metric},
          {"dev", dev},
          {"test", test},
          {"dev_metrics", dev_metrics},
          {"test_metrics", test_metrics},
          {"trainable_params", trainable_params},
          {"backbone_params", backbone_params},
          {"searched", searched},
          {"search_seconds", search_seconds},
          {"retrain_seconds", retrain_seconds}};
}

CellResult CellResult::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object())
    throw FormatError(where + ": not a comparison cell result (not a JSON object); delete it to recompute the cell");
  const io::JsonFields f(j, where, "comparison cell result", "delete it to recompute the cell");
  CellResult c;
  f.get("task", c.task);
  f.get("method", c.method);
  f.get("seed", c.seed);
  f.get("metric", c.metric);
  f.get("dev", c.dev);
  f.get("test", c.test);
  f.get("dev_metrics", c.dev_metrics);
  f.get("test_metrics", c.test_metrics);
  f.get("trainable_params", c.trainable_params);
  f.get("backbone_params", c.backbone_params);
  f.get("searched", c.searched);
  f.get("search_seconds", c.search_seconds);
  f.get("retrain_seconds", c.retrain_seconds);
  return c;
}

namespace {

struct Stat {
  double mean = NAN, std = NAN;
  size_t n = 0;
};

Stat stat_of(const std::vector<double>& v) {
  Stat s;
  s.n = v.size();
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (double x : v) sq += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0;
  return s;
}

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "–";
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string pm(const Stat& s) { return s.n == 0 ? "–" : fixed(s.mean, 1) + " ± " + fixed(s.std, 1); }

nlohmann::json stat_json(const Stat& s) {
  if (s.n == 0) return nullptr;
  return {{"mean", s.mean}, {"std", s.std}, {"n", s.n}};
}

std::string bar_chart(const std::map<std::string, std::map<std::string, Stat>>& score,
                      const std::vector<std::string>& tasks, const std::vector<std::string>& methods,
                      const std::string& title) {
  static const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  const double W = 760, H = 420, L = 60, R = 170, T = 40, B = 50;
  double ymax = 1;
  for (const auto& t : tasks)
    for (const auto& m : methods) {
      const auto& s = score.at(t).at(m);
      if (s.n > 0) ymax = std::max(ymax, s.mean + s.std);
    }
  ymax = std::ceil(ymax / 10.0) * 10.0;
  const double group = (W - L - R) / static_cast<double>(std::max<size_t>(1, tasks.size()));
  const double bar = group * 0.8 / static_cast<double>(std::max<size_t>(1, methods.size()));
  auto Y = [&](double v) { return H - B - (H - T - B) * v / ymax; };
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"" << (W - R + L) / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << xml_escape(title)
    << "</text>\n";
  for (int k = 0; k <= 5; ++k) {
    const double v = ymax * k / 5;
    s << "<line x1=\"" << L << "\" y1=\"" << fixed(Y(v), 1) << "\" x2=\"" << W - R << "\" y2=\"" << fixed(Y(v), 1)
      << "\" stroke=\"#eee\"/><text x=\"" << L - 6 << "\" y=\"" << fixed(Y(v) + 4, 1) << "\" text-anchor=\"end\">"
      << fixed(v, 0) << "</text>\n";
  }
  s << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n";
  s << "<text x=\"16\" y=\"" << H / 2 << "\" transform=\"rotate(-90 16 " << H / 2
    << ")\" text-anchor=\"middle\">test score (mean ± std over seeds)</text>\n";
  for (size_t ti = 0; ti < tasks.size(); ++ti) {
    const double x0 = L + group * static_cast<double>(ti) + group * 0.1;
    s << "<text x=\"" << fixed(L + group * (static_cast<double>(ti) + 0.5), 1) << "\" y=\"" << H - B + 18
      << "\" text-anchor=\"middle\">" << xml_escape(tasks[ti]) << "</text>\n";
    for (size_t mi = 0; mi < methods.size(); ++mi) {
      const auto& st = score.at(tasks[ti]).at(methods[mi]);
      if (st.n == 0) continue;
      const double x = x0 + bar * static_cast<double>(mi), v = std::max(0.0, st.mean);
      s << "<rect x=\"" << fixed(x, 1) << "\" y=\"" << fixed(Y(v), 1) << "\" width=\"" << fixed(bar * 0.9, 1)
        << "\" height=\"" << fixed(H - B - Y(v), 1) << "\" fill=\"" << kColors[mi % 10] << "\"><title>"
        << xml_escape(methods[mi]) << " " << xml_escape(tasks[ti]) << ": " << pm(st) << "</title></rect>\n";
      if (st.std > 0) {
        const double cx = x + bar * 0.45;
        s << "<line x1=\"" << fixed(cx, 1) << "\" y1=\"" << fixed(Y(st.mean - st.std), 1) << "\" x2=\""
          << fixed(cx, 1) << "\" y2=\"" << fixed(Y(std::min(ymax, st.mean + st.std)), 1)
          << "\" stroke=\"black\"/>\n";
      }
    }
  }
  for (size_t mi = 0; mi < methods.size(); ++mi) {
    const double y = T + 14 + 18 * static_cast<double>(mi);
    s << "<rect x=\"" << W - R + 14 << "\" y=\"" << y - 9 << "\" width=\"12\" height=\"12\" fill=\"" << kColors[mi % 10]
      << "\"/><text x=\"" << W - R + 32 << "\" y=\"" << y + 1 << "\">" << xml_escape(methods[mi]) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace

ComparisonReport summarize(const std::vector<CellResult>& cells, const std::vector<std::string>& tasks,
                           const std::vector<std::string>& methods, const std::string& title) {
  std::map<std::string, std::map<std::string, std::vector<const CellResult*>>> by;
  for (const auto& c : cells) by[c.task][c.method].push_back(&c);
  std::map<std::string, std::map<std::string, Stat>> score, search_s, retrain_s, ratio;
  std::map<std::string, Stat> average, params;
  std::map<std::string, std::string> metric_of;
  size_t missing = 0;
  bool any_search = false;
  for (const auto& m : methods) {
    std::vector<double> task_means, ratios;
    bool complete = true;
    for (const auto& t : tasks) {
      std::vector<double> sc, ss, rs, rr;
      for (const auto* c : by[t][m]) {
        sc.push_back(c->test);
        metric_of[t] = c->metric;
        ratios.push_back(c->backbone_params > 0 ? 1e4 * c->trainable_params / c->backbone_params : NAN);
        if (c->searched) {
          any_search = true;
          ss.push_back(c->search_seconds);
          rs.push_back(c->retrain_seconds);
          rr.push_back(c->retrain_seconds > 0 ? c->search_seconds / c->retrain_seconds : NAN);
        }
      }
      if (sc.empty()) {
        ++missing;
        complete = false;
      }
      score[t][m] = stat_of(sc);
      search_s[t][m] = stat_of(ss);
      retrain_s[t][m] = stat_of(rs);
      ratio[t][m] = stat_of(rr);
      if (!sc.empty()) task_means.push_back(score[t][m].mean);
    }
    average[m] = complete ? stat_of(task_means) : Stat{};
    params[m] = stat_of(ratios);
  }

  ComparisonReport r;
  std::ostringstream t1;
  t1 << "| method |";
  for (const auto& t : tasks) t1 << " " << t << (metric_of.count(t) ? " (" + metric_of[t] + ")" : "") << " |";
  t1 << " avg | params (‱) |\n|---|";
  for (size_t i = 0; i < tasks.size(); ++i) t1 << "---|";
  t1 << "---|---|\n";
  for (const auto& m : methods) {
    t1 << "| " << m << " |";
    for (const auto& t : tasks) t1 << " " << pm(score[t][m]) << " |";
    t1 << " " << (average[m].n ? fixed(average[m].mean, 1) : "–") << " | " << fixed(params[m].mean, 2) << " |\n";
  }
  r.table1_markdown = t1.str();

  std::ostringstream t3;
  if (any_search) {
    t3 << "| method |";
    for (const auto& t : tasks) t3 << " " << t << " search (s) | " << t << " retrain (s) | " << t << " ratio |";
    t3 << "\n|---|";
    for (size_t i = 0; i < tasks.size(); ++i) t3 << "---|---|---|";
    t3 << "\n";
    for (const auto& m : methods) {
      bool searched = false;
      for (const auto& t : tasks) searched = searched || search_s[t][m].n > 0;
      if (!searched) continue;
      t3 << "| " << m << " |";
      for (const auto& t : tasks)
        t3 << " " << fixed(search_s[t][m].mean, 0) << " | " << fixed(retrain_s[t][m].mean, 0) << " | "
           << fixed(ratio[t][m].mean, 2) << " |";
      t3 << "\n";
    }
  }
  r.table3_markdown = t3.str();

  nlohmann::json j = {{"title", title}, {"tasks", tasks}, {"methods", methods}, {"cells_missing", missing}};
  for (const auto& m : methods) {
    nlohmann::json row = {{"average", stat_json(average[m])}, {"params_per_myriad", stat_json(params[m])}};
    for (const auto& t : tasks)
      row["tasks"][t] = {{"test", stat_json(score[t][m])},
                         {"search_seconds", stat_json(search_s[t][m])},
                         {"retrain_seconds", stat_json(retrain_s[t][m])},
                         {"search_to_retrain", stat_json(ratio[t][m])}};
    j["table"][m] = row;
  }
  nlohmann::json all = nlohmann::json::array();
  for (const auto& c : cells) all.push_back(c.to_json());
  j["cells"] = all;
  r.json = j;
  r.chart_svg = bar_chart(score, tasks, methods, title);
  return r;
}

}  // namespace bipeft::baselines
