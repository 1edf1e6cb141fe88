#include "bipeft/train/train_options.h"

#include <string>

#include "bipeft/core/error.h"

namespace bipeft::train {

void TrainOptions::validate() const {
  const auto bad = [](const char* field, const std::string& rule) { throw OptionError("TrainOptions", field, rule); };
  if (epochs < 1) bad("epochs", "must be >= 1, got " + std::to_string(epochs));
  if (batch_size < 1) bad("batch_size", "must be >= 1, got " + std::to_string(batch_size));
  if (!(lr > 0)) bad("lr", "must be > 0");
  if (weight_decay < 0) bad("weight_decay", "must be >= 0");
  if (warmup_ratio < 0 || warmup_ratio >= 1) bad("warmup_ratio", "must be in [0, 1)");
  if (clip_norm < 0) bad("clip_norm", "must be >= 0 (0 disables clipping)");
  if (eval_every < 1) bad("eval_every", "must be >= 1");
  if (eval_batch_size < 1) bad("eval_batch_size", "must be >= 1");
  if (log_every < 1) bad("log_every", "must be >= 1");
  if (max_train_examples < 0) bad("max_train_examples", "must be >= 0");
}

nlohmann::json TrainOptions::to_json() const {
  nlohmann::json j = {{"epochs", epochs},         {"batch_size", batch_size},   {"lr", lr},
                      {"weight_decay", weight_decay}, {"warmup_ratio", warmup_ratio}, {"clip_norm", clip_norm},
                      {"eval_every", eval_every}, {"eval_batch_size", eval_batch_size}, {"log_every", log_every},
                      {"max_train_examples", max_train_examples}, {"eval_test", eval_test}};
  // Only when not the default, so that the options of runs saved before the field still compare equal
  // on --resume.
  if (decoding != eval::Decoding::Generate) j["decoding"] = eval::decoding_name(decoding);
  return j;
}

}  // namespace bipeft::train
