#pragma once
// The files a training run writes (`bipeft train`), in one place for the CLI and for programs that embed
// the library: the native adapter (the trained PEFT weights and their structure) and scores.json.
#include <string>

#include <nlohmann/json.hpp>

#include "bipeft/data/task.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/train/trainer.h"

namespace bipeft::train {

/// scores.json: the task, its selection metric, trainable and backbone parameter counts, the result,
/// and, when the test split was scored, the constant answer chosen on dev with its test scores (the
/// reference a test score is read against).
nlohmann::json scores_document(const peft::PeftModelImpl& model, const data::TaskData& task, const TrainResult& result,
                               bool scored_test);

/// Writes the native adapter (with `adapter_meta`, e.g. the base model and task, in its config) and
/// scores.json into `dir` (which must exist), each atomically. Returns the scores document.
nlohmann::json write_train_outputs(const std::string& dir, const peft::PeftModelImpl& model,
                                   const data::TaskData& task, const TrainResult& result, bool scored_test,
                                   const nlohmann::json& adapter_meta);

}  // namespace bipeft::train
