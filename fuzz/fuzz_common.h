#pragma once
// Shared by the libFuzzer targets: what counts as an expected failure, and a check that aborts (so
// libFuzzer records a crash) when a parser breaks one of its own promises.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <ATen/Parallel.h>

#include "bipeft/core/error.h"

namespace bipeft::fuzz {

/// True when BIPEFT_FUZZ_VERBOSE is set: rejected inputs print their error (to check what seeds reach).
inline bool verbose() {
  static const bool on = std::getenv("BIPEFT_FUZZ_VERBOSE") != nullptr;
  return on;
}

/// Runs `parse`; the project's own errors (bipeft::Error: FormatError, ConfigError, IoError, ...) are
/// the expected outcome of bad input. Any other exception escapes and libFuzzer reports it as a crash.
template <typename F>
void expect_project_errors(F&& parse) {
  try {
    parse();
    if (verbose()) std::fprintf(stderr, "accepted\n");
  } catch (const bipeft::Error& e) {
    if (verbose()) std::fprintf(stderr, "rejected: %s\n", e.what());
  }
}

/// Aborts with `what` unless `ok` (a property that must hold for every accepted input).
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// One LibTorch thread: the inputs are tiny and worker pools only add noise under the sanitizers.
inline void init_torch() { at::set_num_threads(1); }

}  // namespace bipeft::fuzz
