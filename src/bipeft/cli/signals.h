#pragma once
// SIGINT/SIGTERM set a flag that long runs poll through RunContext::should_stop().
#include <atomic>

namespace bipeft::cli {

/// Installs the handlers (idempotent).
void install_signal_handlers();
/// The flag the handlers set.
const std::atomic<bool>* stop_flag();

}  // namespace bipeft::cli
