#include "bipeft/train/train_state.h"

#include <cmath>

#include "bipeft/io/json_util.h"

namespace bipeft::train {

nlohmann::json TrainState::to_json() const {
  return {{"step", step},
          {"epoch", epoch},
          {"batch", batch},
          {"total_steps", total_steps},
          {"trainable", trainable},
          {"epoch_loss", epoch_loss},
          {"window_loss", window_loss},
          {"epoch_batches", epoch_batches},
          {"window", window},
          {"has_best", has_best},
          {"best_value", std::isfinite(best_value) ? nlohmann::json(best_value) : nlohmann::json()},
          {"best_epoch", best_epoch},
          {"best_dev_metrics", best_dev.metrics},
          {"history", history},
          {"final_loss", final_loss},
          {"train_seconds", train_seconds},
          {"eval_seconds", eval_seconds}};
}

TrainState TrainState::from_json(const nlohmann::json& j, const std::string& source) {
  const io::JsonFields f(j, source, "training state", "resume from a state this version wrote, or start the run again");
  TrainState s;
  f.get("step", s.step);
  f.get("epoch", s.epoch);
  f.get("batch", s.batch);
  f.get("total_steps", s.total_steps);
  f.get("trainable", s.trainable);
  f.get("epoch_loss", s.epoch_loss);
  f.get("window_loss", s.window_loss);
  f.get("epoch_batches", s.epoch_batches);
  f.get("window", s.window);
  f.get("has_best", s.has_best);
  nlohmann::json best;
  f.get("best_value", best);  // null: no dev evaluation yet
  if (best.is_null()) s.best_value = -INFINITY;
  else f.get("best_value", s.best_value);
  f.get("best_epoch", s.best_epoch);
  f.get("best_dev_metrics", s.best_dev.metrics);
  f.get("history", s.history);
  f.get("final_loss", s.final_loss);
  f.get("train_seconds", s.train_seconds);
  f.get("eval_seconds", s.eval_seconds);
  return s;
}

}  // namespace bipeft::train
