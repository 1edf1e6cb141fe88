#include "bipeft/train/train_state.h"

#include <cmath>

#include "bipeft/core/error.h"

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
  const char* field = "";
  try {
    TrainState s;
    auto req = [&](const char* name) -> const nlohmann::json& {
      field = name;
      return j.at(name);
    };
    req("step").get_to(s.step);
    req("epoch").get_to(s.epoch);
    req("batch").get_to(s.batch);
    req("total_steps").get_to(s.total_steps);
    req("trainable").get_to(s.trainable);
    req("epoch_loss").get_to(s.epoch_loss);
    req("window_loss").get_to(s.window_loss);
    req("epoch_batches").get_to(s.epoch_batches);
    req("window").get_to(s.window);
    req("has_best").get_to(s.has_best);
    const auto& best = req("best_value");
    s.best_value = best.is_null() ? -INFINITY : best.get<double>();
    req("best_epoch").get_to(s.best_epoch);
    for (const auto& kv : req("best_dev_metrics"))
      s.best_dev.metrics.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<double>());
    req("history").get_to(s.history);
    req("final_loss").get_to(s.final_loss);
    req("train_seconds").get_to(s.train_seconds);
    req("eval_seconds").get_to(s.eval_seconds);
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(source + ": training state field \"" + field + "\" is missing or malformed (" + e.what() +
                      "); resume from a state this version wrote, or start the run again");
  }
}

}  // namespace bipeft::train
