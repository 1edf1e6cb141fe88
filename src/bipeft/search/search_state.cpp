#include "bipeft/search/search_state.h"

#include <tuple>

#include "bipeft/core/error.h"
#include "bipeft/io/json_util.h"

namespace bipeft::search {

nlohmann::json SearchState::to_json() const {
  nlohmann::json mods = nlohmann::json::array();
  for (const auto& d : decisions) mods.push_back({d.removed, d.fixed, d.fixed_index});
  nlohmann::json j = {{"step", step},
                      {"epoch", epoch},
                      {"batch", batch},
                      {"done", done},
                      {"total_steps", total_steps},
                      {"modules", decisions.size()},
                      {"state", mods},
                      {"sizes", sizes},
                      {"sensitivity", sensitivity},
                      {"sensitivity_spread", sensitivity_spread},
                      {"detector", detector_recent},
                      {"detector_seen", detector_seen},
                      {"k_rem", remaining_triggers},
                      {"last_trigger_step", last_trigger_step},
                      {"stage", stage},
                      {"triggers", triggers},
                      {"filled", filled},
                      {"beta_choice", beta_choice},
                      {"rank_gains", rank_gains},
                      {"epochs_run", epochs_run},
                      {"curve", curve},
                      {"seconds", seconds}};
  if (gate_effect_samples) j["gate_effect_samples"] = *gate_effect_samples;
  return j;
}

SearchState SearchState::from_json(const nlohmann::json& j, const std::string& source) {
  const io::JsonFields f(j, source, "search state", "resume from a state this version wrote, or start the search again");
  SearchState s;
  f.get("step", s.step);
  f.get("epoch", s.epoch);
  f.get("batch", s.batch);
  f.get("done", s.done);
  f.get("total_steps", s.total_steps);
  std::vector<std::tuple<bool, bool, int64_t>> mods;
  f.get("state", mods);
  for (const auto& [removed, fixed, index] : mods) s.decisions.push_back({removed, fixed, index});
  size_t modules = 0;
  f.get("modules", modules);
  if (modules != s.decisions.size())
    throw FormatError(source + ": search state field \"state\" has " + std::to_string(s.decisions.size()) +
                      " modules, \"modules\" says " + std::to_string(modules) + "; the file is damaged");
  f.get("sizes", s.sizes);
  f.get("sensitivity", s.sensitivity);
  f.get("detector", s.detector_recent);
  f.get("detector_seen", s.detector_seen);
  f.get("k_rem", s.remaining_triggers);
  f.get("stage", s.stage);
  f.get("triggers", s.triggers);
  f.get("beta_choice", s.beta_choice);
  f.get("epochs_run", s.epochs_run);
  f.get("curve", s.curve);
  f.get("seconds", s.seconds);
  f.get_or("last_trigger_step", s.last_trigger_step, int64_t{-1});
  f.get_or("filled", s.filled, int64_t{0});
  f.get_or("rank_gains", s.rank_gains, std::vector<double>{});
  f.get_or("sensitivity_spread", s.sensitivity_spread, std::vector<double>{});
  if (j.contains("gate_effect_samples")) {
    int64_t n = 0;
    f.get("gate_effect_samples", n);
    s.gate_effect_samples = n;
  }
  return s;
}

}  // namespace bipeft::search
