#pragma once
// Everything a training run carries from one step to the next apart from tensors (weights, the best
// snapshot, the optimizer, generators): where the loop is, the running losses, the best dev score so
// far and the evaluation history. The Trainer works on one of these; a checkpoint is its to_json()
// beside the tensors, and a resume its from_json().
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/eval/evaluator.h"

namespace bipeft::train {

struct TrainState {
  // Where the loop is.
  int64_t step = 0;         // optimizer steps taken
  int64_t epoch = 0;        // the epoch to continue in
  int64_t batch = 0;        // the next batch of that epoch
  int64_t total_steps = 0;  // steps the options allow (a resume must match)
  int64_t trainable = 0;    // trainable parameters (a resume must match)
  // Running losses: over the epoch so far, and over the log window.
  double epoch_loss = 0, window_loss = 0;
  int64_t epoch_batches = 0, window = 0;
  double final_loss = 0;  // mean train loss of the last finished epoch
  // Model selection.
  bool has_best = false;       // a best-dev snapshot exists (the checkpoint holds its tensors)
  double best_value = -INFINITY;
  int64_t best_epoch = -1;
  eval::EvalResult best_dev;   // the checkpoint keeps its metrics
  std::vector<nlohmann::json> history;  // one entry per dev evaluation
  // Wall time of the segments before this one.
  double train_seconds = 0, eval_seconds = 0;

  /// The checkpoint's metadata (the key names every earlier release wrote).
  nlohmann::json to_json() const;
  /// From to_json()'s output. FormatError naming `source` and the field when one is missing or has
  /// the wrong type.
  static TrainState from_json(const nlohmann::json& j, const std::string& source);
};

}  // namespace bipeft::train
