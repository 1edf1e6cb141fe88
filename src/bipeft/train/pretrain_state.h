#pragma once
// Everything a pretraining run carries from one step to the next apart from tensors (weights,
// optimizer, generators): where the loop is in the corpus, the loss window, the tokens seen and both
// curves. The Pretrainer works on one of these; a checkpoint is its to_json() beside the tensors, and a
// resume its from_json().
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bipeft::train {

struct PretrainState {
  // Where the loop is.
  int64_t step = 0;         // optimizer steps taken
  int64_t epoch = 0;        // pass over the training chunks
  int64_t batch = 0;        // the next batch of that pass
  int64_t total_steps = 0;  // a resume must match these four
  int64_t chunks = 0;
  int64_t parameters = 0;
  int64_t task_examples = 0;  // supervised examples mixed in (PretrainOptions::task_rows); 0 in older states
  // The current log window, and what the run has seen and measured.
  double window_loss = 0;
  int64_t window = 0;
  int64_t input_tokens = 0;                          // corrupted input tokens seen in training
  double final_loss = 0;                             // mean train loss of the last log window
  std::vector<std::array<double, 2>> train_curve;    // (step, mean loss of the window)
  std::vector<std::array<double, 2>> heldout_curve;  // (step, held-out loss)
  double seconds = 0;                                // wall time of the segments before this one

  /// The checkpoint's metadata (the key names every earlier release wrote).
  nlohmann::json to_json() const;
  /// From to_json()'s output. FormatError naming `source` and the field when one is missing or has
  /// the wrong type.
  static PretrainState from_json(const nlohmann::json& j, const std::string& source);
};

}  // namespace bipeft::train
