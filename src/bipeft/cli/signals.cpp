#include "bipeft/cli/signals.h"

#include <csignal>

namespace bipeft::cli {

namespace {
// The one piece of process-wide state: a signal handler can only reach a global.
std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop.store(true); }
}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

const std::atomic<bool>* stop_flag() { return &g_stop; }

}  // namespace bipeft::cli
