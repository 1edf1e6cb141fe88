#include "bipeft/cli/progress_bar.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "bipeft/core/strings.h"

namespace bipeft::cli {

ProgressBar::ProgressBar() : tty_(::isatty(STDERR_FILENO) != 0) {}

void ProgressBar::update(const ProgressUpdate& u) {
  auto now = std::chrono::steady_clock::now();
  if (u.task != task_) {
    if (drawn_ && tty_) std::cerr << "\n";
    task_ = u.task;
    start_ = now;
    start_done_ = u.done;
    drawn_ = false;
    last_draw_ = now - std::chrono::hours(1);
  }
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  const bool last = u.total > 0 && u.done >= u.total;
  if (since_draw < (tty_ ? 0.1 : 10.0) && !last) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(u.done - start_done_) / elapsed : 0;
  std::string line = task_ + " ";
  if (u.total > 0) {
    const double frac = std::min(1.0, static_cast<double>(u.done) / static_cast<double>(u.total));
    const int width = 24;
    const int fill = static_cast<int>(frac * width);
    line += "[" + std::string(fill, '#') + std::string(width - fill, '.') + "] ";
    char buf[96];
    std::snprintf(buf, sizeof buf, "%lld/%lld %3.0f%% ", static_cast<long long>(u.done),
                  static_cast<long long>(u.total), 100 * frac);
    line += buf;
    const double eta = rate > 0 ? static_cast<double>(u.total - u.done) / rate : NAN;
    line += "elapsed " + format_duration(elapsed) + " ETA " + format_duration(eta);
  } else {
    line += std::to_string(u.done) + " elapsed " + format_duration(elapsed);
  }
  if (!u.status.empty()) line += "  " + u.status;
  if (tty_) {
    std::cerr << "\r\033[K" << line << std::flush;
  } else {
    std::cerr << line << "\n";
  }
  drawn_ = true;
}

void ProgressBar::finish(const std::string&) {
  if (drawn_ && tty_) std::cerr << "\n";
  drawn_ = false;
  task_.clear();
}

}  // namespace bipeft::cli
