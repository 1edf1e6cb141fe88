#include "bipeft/train/pretrain_state.h"

#include "bipeft/io/json_util.h"

namespace bipeft::train {

nlohmann::json PretrainState::to_json() const {
  return {{"step", step},
          {"epoch", epoch},
          {"batch", batch},
          {"total_steps", total_steps},
          {"chunks", chunks},
          {"parameters", parameters},
          {"task_examples", task_examples},
          {"window_loss", window_loss},
          {"window", window},
          {"input_tokens", input_tokens},
          {"final_loss", final_loss},
          {"train_curve", train_curve},
          {"heldout_curve", heldout_curve},
          {"seconds", seconds}};
}

PretrainState PretrainState::from_json(const nlohmann::json& j, const std::string& source) {
  const io::JsonFields f(j, source, "pretraining state", "resume from a state this version wrote, or start the run again");
  PretrainState s;
  f.get("step", s.step);
  f.get("epoch", s.epoch);
  f.get("batch", s.batch);
  f.get("total_steps", s.total_steps);
  f.get("chunks", s.chunks);
  f.get("parameters", s.parameters);
  f.get_or("task_examples", s.task_examples, int64_t{0});
  f.get("window_loss", s.window_loss);
  f.get("window", s.window);
  f.get("input_tokens", s.input_tokens);
  f.get("final_loss", s.final_loss);
  f.get("train_curve", s.train_curve);
  f.get("heldout_curve", s.heldout_curve);
  f.get("seconds", s.seconds);
  return s;
}

}  // namespace bipeft::train
