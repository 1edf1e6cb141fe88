#include "bipeft/search/space.h"

#include <algorithm>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::search {

namespace {

// Positions of each method in the paper's spaces (peft::MethodInfo's, with the cross-attention ones
// when asked).
std::vector<std::string> space_positions(const std::string& method, bool cross) {
  const auto& info = peft::method_info(method);
  auto p = info.space_positions;
  if (cross) p.insert(p.end(), info.cross_space_positions.begin(), info.cross_space_positions.end());
  return p;
}

}  // namespace

void SpaceOptions::validate() const {
  if (ranks.empty()) throw OptionError("SpaceOptions", "ranks", "needs at least one candidate rank");
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (ranks[i] < 1) throw OptionError("SpaceOptions", "ranks", "must be >= 1");
    if (i > 0 && ranks[i] <= ranks[i - 1])
      throw OptionError("SpaceOptions", "ranks", "must be strictly increasing (e.g. 1,4,8)");
  }
}

peft::Structure build_space(const SpaceOptions& o, const std::vector<model::SiteInfo>& sites) {
  o.validate();
  std::vector<std::string> method_names;
  const std::string sp = to_lower(trim(o.space));
  method_names = peft::space_methods(sp);
  if (method_names.empty())
    for (const auto& m : split(sp, ',')) method_names.push_back(peft::method_info(trim(m)).name);
  for (const auto& want : o.positions) {
    bool known = false;
    for (const auto& name : method_names) {
      const auto pos = space_positions(name, o.cross_attention);
      known = known || std::find(pos.begin(), pos.end(), want) != pos.end();
    }
    if (!known)
      throw OptionError("SpaceOptions", "positions",
                        "'" + want + "' is not a position of space '" + o.space +
                            "' (LoRA: q,k,v,o,wi,wo; Adapter-LR: attn,ffn; norms: attn_ln,ffn_ln,final_ln)");
  }
  const int64_t rank_max = o.ranks.back();
  peft::Structure s;
  s.options.prefix_length_max = std::max<int64_t>(s.options.prefix_length_max, rank_max);
  // Module order: by site (encoder blocks, decoder blocks, final norms), then by method.
  for (const auto& site : sites) {
    for (const auto& name : method_names) {
      const auto& info = peft::method_info(name);
      auto pos = space_positions(info.name, o.cross_attention);
      if (std::find(pos.begin(), pos.end(), site.position) == pos.end()) continue;
      if (!o.positions.empty() && std::find(o.positions.begin(), o.positions.end(), site.position) == o.positions.end())
        continue;
      if (!peft::target_matches(site.name, site, info)) continue;
      s.modules.push_back({site.name, info.name, info.ranked ? rank_max : 1});
    }
  }
  if (s.modules.empty()) throw ConfigError("search space '" + o.space + "' has no module in this model");
  return s;
}

}  // namespace bipeft::search
