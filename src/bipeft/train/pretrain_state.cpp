#include "bipeft/train/pretrain_state.h"

#include "bipeft/core/error.h"

namespace bipeft::train {

nlohmann::json PretrainState::to_json() const {
  return {{"step", step},
          {"epoch", epoch},
          {"batch", batch},
          {"total_steps", total_steps},
          {"chunks", chunks},
          {"parameters", parameters},
          {"window_loss", window_loss},
          {"window", window},
          {"input_tokens", input_tokens},
          {"final_loss", final_loss},
          {"train_curve", train_curve},
          {"heldout_curve", heldout_curve},
          {"seconds", seconds}};
}

PretrainState PretrainState::from_json(const nlohmann::json& j, const std::string& source) {
  const char* field = "";
  try {
    PretrainState s;
    auto req = [&](const char* name) -> const nlohmann::json& {
      field = name;
      return j.at(name);
    };
    req("step").get_to(s.step);
    req("epoch").get_to(s.epoch);
    req("batch").get_to(s.batch);
    req("total_steps").get_to(s.total_steps);
    req("chunks").get_to(s.chunks);
    req("parameters").get_to(s.parameters);
    req("window_loss").get_to(s.window_loss);
    req("window").get_to(s.window);
    req("input_tokens").get_to(s.input_tokens);
    req("final_loss").get_to(s.final_loss);
    req("train_curve").get_to(s.train_curve);
    req("heldout_curve").get_to(s.heldout_curve);
    req("seconds").get_to(s.seconds);
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(source + ": pretraining state field \"" + field + "\" is missing or malformed (" + e.what() +
                      "); resume from a state this version wrote, or start the run again");
  }
}

}  // namespace bipeft::train
