#include "bipeft/train/train_outputs.h"

#include "bipeft/eval/constant_answer.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/peft/adapter_io.h"

namespace bipeft::train {

nlohmann::json scores_document(const peft::PeftModelImpl& model, const data::TaskData& task, const TrainResult& result,
                               bool scored_test) {
  nlohmann::json scores = {{"task", task.name},
                           {"metric", task.metrics.front()},
                           {"trainable_params", model.trainable_count()},
                           {"backbone_params", model.backbone->num_parameters()},
                           {"result", result.to_json()}};
  if (scored_test) {
    const auto constant = eval::constant_answer(task, task.dev, task.test);
    scores["constant_answer"] = {{"prediction", constant.prediction}, {"test", constant.metrics}};
  }
  return scores;
}

nlohmann::json write_train_outputs(const std::string& dir, const peft::PeftModelImpl& model,
                                   const data::TaskData& task, const TrainResult& result, bool scored_test,
                                   const nlohmann::json& adapter_meta) {
  peft::save_native_adapter(model, dir, adapter_meta);
  auto scores = scores_document(model, task, result, scored_test);
  io::write_json_atomic(io::join_path(dir, "scores.json"), scores);
  return scores;
}

}  // namespace bipeft::train
