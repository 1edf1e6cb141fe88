#pragma once
// The saved state of a long run (training, search), so a killed or stopped run can continue exactly
// where its last checkpoint left it: named tensors (PEFT weights, architecture logits, snapshots),
// optimizer states, generator states and a JSON document of counters, all in one safetensors file
// written atomically (temp file + fsync + rename; the JSON rides in the header's __metadata__).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

namespace bipeft::train {

/// Where and how often a run saves its state, and whether it starts from a saved one.
struct Checkpointing {
  std::string path;        // the state file; empty = never save
  int64_t every = 0;       // save after every N optimizer steps (0 = only when stopped by a signal)
  bool resume = false;     // continue from `path` when it exists
  bool enabled() const { return !path.empty(); }
  bool due(int64_t step) const { return enabled() && every > 0 && step % every == 0; }
  /// The state file `state_file` inside `dir`, saved every `every` steps, resumed from when `resume`.
  static Checkpointing at(const std::string& dir, const std::string& state_file, int64_t every, bool resume);
};

/// Named tensors plus a JSON document; what a checkpoint holds.
class RunState {
 public:
  /// `kind` ("train", "search") is checked on load so one run's state is never read as another's.
  explicit RunState(std::string kind) : kind_(std::move(kind)) {}

  nlohmann::json meta = nlohmann::json::object();

  void put(const std::string& name, const at::Tensor& t);
  /// The tensor `name`; throws FormatError naming the file and the entry when it is missing.
  at::Tensor get(const std::string& name) const;
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }

  /// Tensors as prefix.0, prefix.1, ... (and their count).
  void put_list(const std::string& prefix, const std::vector<at::Tensor>& ts);
  std::vector<at::Tensor> get_list(const std::string& prefix) const;
  /// Copies the saved list into `dst` in place (same count, shapes and dtypes, else FormatError).
  void copy_list_into(const std::string& prefix, std::vector<at::Tensor>& dst) const;

  /// Which of `params` hold a gradient tensor. LibTorch 1.x's zero_grad() keeps zeroed gradients,
  /// and an optimizer still steps (decay, moments) a parameter whose gradient is a zero tensor but
  /// skips one without a gradient; a resumed run must recreate the same zero tensors.
  void put_grad_presence(const std::string& name, const std::vector<at::Tensor>& params);
  void restore_grad_presence(const std::string& name, std::vector<at::Tensor>& params) const;

  /// Trainable tensors: their values and gradient presence (put_list + put_grad_presence).
  void put_params(const std::string& name, const std::vector<at::Tensor>& params);
  void restore_params(const std::string& name, std::vector<at::Tensor>& params) const;

  /// The default generators a run draws from on `device` (dropout): CPU, plus the device's own.
  void put_default_generators(const c10::Device& device);
  void restore_default_generators(const c10::Device& device) const;

  /// The full state of an optimizer (any torch::optim type; parameter order identifies the state).
  void put_optimizer(const std::string& name, torch::optim::Optimizer& opt);
  void get_optimizer(const std::string& name, torch::optim::Optimizer& opt) const;

  /// A generator's state (CPU or CUDA).
  void put_generator(const std::string& name, const at::Generator& gen);
  void get_generator(const std::string& name, at::Generator& gen) const;

  /// Writes the state atomically (a temporary file renamed into place). With a save-fault hook set
  /// (set_save_fault_hook), the hook runs half-way through the temporary file.
  void save(const std::string& path) const;
  /// Reads a state written by save(); FormatError when the file is not a `kind` state.
  static RunState load(const std::string& path, const std::string& kind);

 private:
  std::string kind_;
  std::string source_;  // file it was loaded from (for messages)
  std::map<std::string, at::Tensor> tensors_;
};

/// A test seam for interruption tests: RunState::save calls the hook with this process's save count
/// (1 for the first save) after writing half of the temporary file; a hook may end the process there
/// (the CLI installs one that raises SIGKILL at the N-th save under BIPEFT_FAULT_KILL_IN_SAVE=N) or
/// throw, which leaves the previous state file untouched. An empty hook (the default) removes it.
/// Set it before any run starts; it is not synchronised with saves in flight.
using SaveFaultHook = std::function<void(int save_index)>;
void set_save_fault_hook(SaveFaultHook hook);

/// The default generator of `device` (dropout and other global randomness).
at::Generator default_generator(const c10::Device& device);

/// Makes `log` continue where the state in `state` was saved: keeps the lines up to and including
/// the {"event":"checkpoint"} of the saved step and drops the rest; without a state the log is
/// emptied (the run starts over). IoError/FormatError when the log does not hold that checkpoint.
void rewind_log(const std::string& log, const std::string& state, const std::string& kind);

}  // namespace bipeft::train
