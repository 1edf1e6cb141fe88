#pragma once
// A progress bar on stderr: redrawn in place on a terminal, one plain line every few seconds
// otherwise (logs stay readable). Shows done/total, rate, ETA and a status text.
#include <chrono>
#include <string>

#include "bipeft/core/run_context.h"

namespace bipeft::cli {

class ProgressBar : public ProgressSink {
 public:
  ProgressBar();
  void update(const ProgressUpdate& u) override;
  void finish(const std::string& task) override;

 private:
  bool tty_;
  std::string task_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t start_done_ = 0;
  bool drawn_ = false;
};

}  // namespace bipeft::cli
