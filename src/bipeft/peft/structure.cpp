#include "bipeft/peft/structure.h"

#include <map>
#include <set>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/json_util.h"

namespace bipeft::peft {

nlohmann::json Structure::to_json() const {
  nlohmann::json mods = nlohmann::json::array();
  for (const auto& m : modules) {
    nlohmann::json e = {{"module", m.site}, {"method", m.method}};
    if (method_info(m.method).ranked) e["rank"] = m.rank;
    mods.push_back(e);
  }
  return {{"format", "bipeft-structure"},
          {"version", 1},
          {"full_finetune", full_finetune},
          {"options",
           {{"adapter_lr_reduction", options.adapter_lr_reduction},
            {"prefix_mid", options.prefix_mid},
            {"prefix_length_max", options.prefix_length_max}}},
          {"modules", mods}};
}

namespace {

// Ranks and sizes a structure file may ask for: wider than any T5 layer (t5-11b: d_ff 65,536), so only
// corrupt files hit it, before a module of that size is allocated.
constexpr int64_t kMaxSize = int64_t{1} << 16;

int64_t bounded(int64_t v, const std::string& what, const std::string& where) {
  if (v > kMaxSize)
    throw FormatError(where + ": " + what + " " + std::to_string(v) + " is larger than " + std::to_string(kMaxSize));
  return v;
}

}  // namespace

Structure Structure::from_json(const nlohmann::json& j, const std::string& where) {
  using io::json_optional;
  using io::json_required;
  Structure s;
  if (!j.is_object()) throw FormatError(where + ": a structure must be a JSON object");
  const auto fmt = json_optional<std::string>(j, "format", "bipeft-structure", where);
  if (fmt != "bipeft-structure")
    throw FormatError(where + ": format '" + fmt + "' is not a bipeft structure (expected \"bipeft-structure\")");
  s.full_finetune = json_optional<bool>(j, "full_finetune", false, where);
  if (j.contains("options")) {
    const auto& o = j["options"];
    const std::string w = where + " options";
    s.options.adapter_lr_reduction = json_optional<int64_t>(o, "adapter_lr_reduction", 32, w);
    s.options.prefix_mid = bounded(json_optional<int64_t>(o, "prefix_mid", 2, w), "prefix_mid", w);
    s.options.prefix_length_max = bounded(json_optional<int64_t>(o, "prefix_length_max", 8, w), "prefix_length_max", w);
  }
  auto mods = j.find("modules");
  if (mods == j.end() || !mods->is_array()) throw FormatError(where + ": missing array 'modules'");
  for (size_t i = 0; i < mods->size(); ++i) {
    const std::string w = where + " modules[" + std::to_string(i) + "]";
    const auto& e = (*mods)[i];
    ModuleSpec m;
    m.site = json_required<std::string>(e, "module", w);
    try {
      m.method = method_info(json_required<std::string>(e, "method", w)).name;
    } catch (const ConfigError& err) {
      throw FormatError(w + ": " + err.what());
    }
    m.rank = method_info(m.method).ranked ? json_required<int64_t>(e, "rank", w) : 1;
    if (m.rank < 1) throw FormatError(w + ": rank must be >= 1 (leave removed modules out of the list)");
    bounded(m.rank, "rank", w);
    s.modules.push_back(m);
  }
  try {
    s.options.validate();
  } catch (const ConfigError& e) {
    throw FormatError(where + ": " + e.what());
  }
  return s;
}

Structure Structure::read(const std::string& path) { return from_json(io::read_json_file(path), path); }

void Structure::validate(const std::vector<model::SiteInfo>& sites, const std::string& where) const {
  std::multimap<std::string, const model::SiteInfo*> by_name;
  for (const auto& s : sites) by_name.emplace(s.name, &s);
  std::set<std::pair<std::string, std::string>> seen;
  std::vector<std::string> problems;
  for (const auto& m : modules) {
    const auto& info = method_info(m.method);
    if (!seen.insert({m.site, m.method}).second) problems.push_back(m.site + ": " + m.method + " listed twice");
    auto range = by_name.equal_range(m.site);
    if (range.first == range.second) {
      problems.push_back(m.site + ": no such module in this model");
      continue;
    }
    bool fits = false;
    for (auto it = range.first; it != range.second; ++it) fits = fits || target_matches(m.site, *it->second, info);
    if (!fits) problems.push_back(m.site + ": " + m.method + " cannot attach there");
    if (m.method == "prefix" && m.rank > options.prefix_length_max)
      problems.push_back(m.site + ": prefix length " + std::to_string(m.rank) + " > prefix_length_max " +
                         std::to_string(options.prefix_length_max));
  }
  if (problems.empty()) return;
  std::string msg = where + ": structure does not fit this model:";
  for (size_t i = 0; i < problems.size() && i < 20; ++i) msg += "\n  " + problems[i];
  if (problems.size() > 20) msg += "\n  ... and " + std::to_string(problems.size() - 20) + " more";
  throw ConfigError(msg);
}

namespace {

struct MethodRequest {
  std::string method;
  int64_t rank;
  std::vector<std::string> targets;
};

std::vector<MethodRequest> parse_specs(const std::vector<std::string>& specs, int64_t rank,
                                       const std::vector<std::string>& targets, bool& full) {
  std::vector<MethodRequest> out;
  for (const auto& spec : specs) {
    if (spec.find(':') == std::string::npos) {
      for (const auto& name : split(spec, ',')) {
        auto n = trim(name);
        if (n.empty()) continue;
        if (to_lower(n) == "full") {
          full = true;
          continue;
        }
        out.push_back({method_info(n).name, rank, targets});
      }
      continue;
    }
    auto parts = split(spec, ':');
    MethodRequest r{method_info(trim(parts[0])).name, rank, targets};
    for (size_t i = 1; i < parts.size(); ++i) {
      auto kv = parts[i];
      auto eq = kv.find('=');
      if (eq == std::string::npos) throw ConfigError("method spec '" + spec + "': expected key=value after ':'");
      auto key = trim(kv.substr(0, eq)), value = trim(kv.substr(eq + 1));
      if (key == "r" || key == "rank") {
        try {
          r.rank = std::stoll(value);
        } catch (const std::exception&) {
          throw ConfigError("method spec '" + spec + "': rank '" + value + "' is not an integer");
        }
      } else if (key == "targets") {
        r.targets = split(value, ',');
      } else {
        throw ConfigError("method spec '" + spec + "': unknown key '" + key + "' (use r= or targets=)");
      }
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace

Structure manual_structure(const std::vector<std::string>& specs, int64_t rank, const std::vector<std::string>& targets,
                           const std::vector<model::SiteInfo>& sites) {
  Structure s;
  auto requests = parse_specs(specs, rank, targets, s.full_finetune);
  if (requests.empty() && !s.full_finetune) throw ConfigError("no PEFT method given");
  for (const auto& r : requests) {
    const auto& info = method_info(r.method);
    if (info.ranked && r.rank < 1) throw ConfigError("rank must be >= 1 for " + info.name);
    const auto& wanted = r.targets.empty() ? info.default_positions : r.targets;
    size_t before = s.modules.size();
    for (const auto& site : sites) {
      bool hit = false;
      for (const auto& t : wanted) hit = hit || target_matches(trim(t), site, info);
      if (hit) s.modules.push_back({site.name, info.name, info.ranked ? r.rank : 1});
    }
    if (s.modules.size() == before)
      throw ConfigError(info.name + ": targets '" + join(wanted, ",") +
                        "' match no module of this model; positions for " + info.name + ": " + join(info.positions, ","));
    if (info.name == "prefix") s.options.prefix_length_max = std::max(s.options.prefix_length_max, r.rank);
  }
  return s;
}

}  // namespace bipeft::peft
