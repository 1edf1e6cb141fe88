#pragma once
// Everything a BIPEFT search carries from one step to the next apart from tensors (PEFT and
// architecture weights, optimizers, generators, the beta history, the gate-effect fit): where the loop
// is, what early selection has decided, and snapshots of the state that other objects own (the
// sensitivity averages, the trigger window, the rank gains). The Searcher works on one of these; a
// checkpoint is its to_json() beside the tensors, and a resume its from_json().
#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bipeft::search {

/// A module's selection decision: removed (m_i = 0), dimension fixed, and the fixed candidate index.
struct ModuleDecision {
  bool removed = false;
  bool fixed = false;
  int64_t fixed_index = -1;
};

struct SearchState {
  // Where the loop is.
  int64_t step = 0;         // weight steps done
  int64_t epoch = 0;        // the epoch to continue in
  int64_t batch = 0;        // the next batch of that epoch
  bool done = false;        // the loop has ended: a resume redoes only the final selection
  int64_t epochs_run = 0;   // epochs begun
  int64_t total_steps = 0;  // steps the options allow (a resume must match)
  double seconds = 0;       // search wall time of the segments before this one

  // Early selection.
  int64_t remaining_triggers = 0;  // K_rem
  int64_t triggers = 0;            // triggers fired
  int64_t last_trigger_step = -1;  // weight step of the last trigger (-1: none yet)
  int stage = 0;                   // architecture stage of the next step: 0 binary, 1 dimension
  int64_t filled = 0;              // candidate steps the budget fill added above argmax beta
  std::vector<ModuleDecision> decisions;  // per module
  std::vector<double> sizes;              // per module: its size for the removal (expected, 0 removed)
  std::vector<int64_t> beta_choice;       // per module: argmax beta when its rank was fixed (-1: not yet)
  std::vector<std::array<double, 3>> curve;  // per step: step, expected parameters, kept parameters

  // Snapshots of what other objects own, taken when the state is saved.
  std::vector<double> sensitivity;                 // SensitivityTracker::smoothed()
  std::vector<double> sensitivity_spread;          // SensitivityTracker::spread() (empty in older states)
  std::deque<std::vector<double>> detector_recent;  // TriggerDetector::recent()
  int64_t detector_seen = 0;
  std::vector<double> rank_gains;                  // Architecture::rank_gains() (empty in older states)
  std::optional<int64_t> gate_effect_samples;      // set when the gate_effect criterion is used

  /// The checkpoint's metadata (the key names every earlier release wrote).
  nlohmann::json to_json() const;
  /// From to_json()'s output; states written before a field existed take its default. FormatError
  /// naming `source` and the field when a required field is missing or has the wrong type.
  static SearchState from_json(const nlohmann::json& j, const std::string& source);
};

}  // namespace bipeft::search
