#pragma once
// Everything a long-running library call needs from its caller: seed, device, dtype, where to report
// progress and events, and how to learn that it should stop. No globals: the CLI fills this in.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>

namespace bipeft {

namespace dist {
class Communicator;
}

/// One update of a long task: `done` of `total` units (total 0 = unknown), plus a short status text.
struct ProgressUpdate {
  std::string task;     // e.g. "train", "search", "eval"
  int64_t done = 0;     // units finished
  int64_t total = 0;    // units in all (0 if unknown)
  std::string status;   // short free text, e.g. "loss 0.512  triggers 12/100"
};

/// Receives progress updates; the CLI draws a progress bar, tests may record them.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void update(const ProgressUpdate& update) = 0;
  /// Called once when the task ends (successfully or not).
  virtual void finish(const std::string& task) = 0;
};

/// Receives machine-readable events (one JSON object each: "event", "step", ...); the CLI writes JSONL.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void write(const nlohmann::json& event) = 0;
};

/// Severity of a human-readable log line.
enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3 };

/// Receives human-readable log lines (the CLI prints them on stderr).
using LogCallback = std::function<void(LogLevel, const std::string&)>;

/// Seed, device, dtype and reporting channels of one run.
struct RunContext {
  uint64_t seed = 42;                      // every generator of the run derives from this
  c10::Device device = c10::Device("cpu");  // where tensors live
  c10::ScalarType dtype = c10::kFloat;     // compute dtype of the backbone
  std::shared_ptr<ProgressSink> progress;  // may be null
  std::shared_ptr<EventSink> events;       // may be null
  LogCallback log;                         // may be empty
  const std::atomic<bool>* stop_requested = nullptr;  // set by the CLI's signal handler
  // Asked between steps (whisper.cpp's abort callback): return true to stop the run. A stopped run
  // throws Interrupted after saving its state when checkpointing is on, as on SIGINT.
  std::function<bool()> abort_callback;
  std::shared_ptr<dist::Communicator> comm;  // the other processes of a data-parallel run; null = one process

  /// True once the caller asked the run to stop (SIGINT/SIGTERM, or abort_callback returned true).
  bool should_stop() const {
    return (stop_requested != nullptr && stop_requested->load()) || (abort_callback && abort_callback());
  }
  void info(const std::string& msg) const {
    if (log) log(LogLevel::Info, msg);
  }
  void warn(const std::string& msg) const {
    if (log) log(LogLevel::Warning, msg);
  }
  void event(const nlohmann::json& e) const {
    if (events) events->write(e);
  }
  void report(const ProgressUpdate& u) const {
    if (progress) progress->update(u);
  }
};

}  // namespace bipeft
