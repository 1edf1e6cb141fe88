#include "bipeft/train/train_options.h"

#include <string>

#include "bipeft/core/error.h"

namespace bipeft::train {

void TrainOptions::validate() const {
  if (epochs < 1) throw ConfigError("--epochs must be >= 1, got " + std::to_string(epochs));
  if (batch_size < 1) throw ConfigError("--batch must be >= 1, got " + std::to_string(batch_size));
  if (!(lr > 0)) throw ConfigError("--lr must be > 0");
  if (weight_decay < 0) throw ConfigError("--weight-decay must be >= 0");
  if (warmup_ratio < 0 || warmup_ratio >= 1) throw ConfigError("--warmup-ratio must be in [0, 1)");
  if (clip_norm < 0) throw ConfigError("--clip must be >= 0 (0 disables clipping)");
  if (eval_every < 1) throw ConfigError("--eval-every must be >= 1");
  if (eval_batch_size < 1) throw ConfigError("--eval-batch must be >= 1");
  if (log_every < 1) throw ConfigError("--log-every must be >= 1");
  if (max_train_examples < 0) throw ConfigError("--max-train must be >= 0");
}

nlohmann::json TrainOptions::to_json() const {
  return {{"epochs", epochs},         {"batch_size", batch_size},   {"lr", lr},
          {"weight_decay", weight_decay}, {"warmup_ratio", warmup_ratio}, {"clip_norm", clip_norm},
          {"eval_every", eval_every}, {"eval_batch_size", eval_batch_size}, {"log_every", log_every},
          {"max_train_examples", max_train_examples}, {"eval_test", eval_test}};
}

}  // namespace bipeft::train
