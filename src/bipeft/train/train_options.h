#pragma once
// Options of a training run (retrain after search, manual PEFT, full fine-tuning). Defaults follow
// the paper's retrain (ALGORITHM.md §10.4, §12).
#include <cstdint>

#include <nlohmann/json.hpp>

#include "bipeft/eval/decoding.h"
#include "bipeft/train/objective.h"

namespace bipeft::train {

struct TrainOptions {
  int64_t epochs = 3;             // passes over the train split (>= 1)
  int64_t batch_size = 32;        // examples per optimizer step (>= 1)
  double lr = 3e-4;               // AdamW learning rate (> 0)
  double weight_decay = 1e-4;     // AdamW decoupled weight decay (>= 0)
  double warmup_ratio = 0.0;      // fraction of all steps with linear warm-up, in [0, 1)
  double clip_norm = 2.0;         // gradient-norm clip; 0 disables
  int64_t eval_every = 1;         // evaluate on dev every N epochs (and after the last)
  int64_t eval_batch_size = 64;   // generation batch
  int64_t log_every = 10;         // a "step" event every N optimizer steps
  int64_t max_train_examples = 0; // use only the first N training examples (0 = all)
  bool eval_test = true;          // score the best-dev weights on test at the end
  eval::Decoding decoding = eval::Decoding::Generate;  // how dev/test predictions are made (eval/decoding.h)
  BatchObjective objective;       // loss of a step (empty: label cross-entropy); set by code, not saved
  /// Throws ConfigError naming the broken constraint.
  void validate() const;
  nlohmann::json to_json() const;
};

}  // namespace bipeft::train
