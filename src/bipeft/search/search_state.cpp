#include "bipeft/search/search_state.h"

#include "bipeft/core/error.h"

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
  const char* field = "";
  try {
    SearchState s;
    auto req = [&](const char* name) -> const nlohmann::json& {
      field = name;
      return j.at(name);
    };
    req("step").get_to(s.step);
    req("epoch").get_to(s.epoch);
    req("batch").get_to(s.batch);
    req("done").get_to(s.done);
    req("total_steps").get_to(s.total_steps);
    const auto& mods = req("state");
    for (const auto& m : mods) s.decisions.push_back({m.at(0).get<bool>(), m.at(1).get<bool>(), m.at(2).get<int64_t>()});
    if (req("modules").get<size_t>() != s.decisions.size())
      throw FormatError(source + ": search state field \"state\" has " + std::to_string(s.decisions.size()) +
                        " modules, \"modules\" says " + j.at("modules").dump() + "; the file is damaged");
    req("sizes").get_to(s.sizes);
    req("sensitivity").get_to(s.sensitivity);
    req("detector").get_to(s.detector_recent);
    req("detector_seen").get_to(s.detector_seen);
    req("k_rem").get_to(s.remaining_triggers);
    req("stage").get_to(s.stage);
    req("triggers").get_to(s.triggers);
    req("beta_choice").get_to(s.beta_choice);
    req("epochs_run").get_to(s.epochs_run);
    req("curve").get_to(s.curve);
    req("seconds").get_to(s.seconds);
    field = "last_trigger_step";
    s.last_trigger_step = j.value("last_trigger_step", int64_t{-1});
    field = "filled";
    s.filled = j.value("filled", int64_t{0});
    field = "rank_gains";
    if (j.contains("rank_gains")) j.at("rank_gains").get_to(s.rank_gains);
    field = "gate_effect_samples";
    if (j.contains("gate_effect_samples")) s.gate_effect_samples = j.at("gate_effect_samples").get<int64_t>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(source + ": search state field \"" + field + "\" is missing or malformed (" + e.what() +
                      "); resume from a state this version wrote, or start the search again");
  }
}

}  // namespace bipeft::search
