#pragma once
// CLI11 checks for integer flags with one clear message for every bad value: "--d-model: must be a whole
// number >= 1, got 'abc'". CLI11's own NonNegativeNumber/PositiveNumber print "not in range 0.000000 to
// 1797693...", and an unchecked integer option answers "1.5" with "At Most 1 required but received 2".
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

namespace bipeft::cli {

/// A whole number in [lo, hi].
inline CLI::Validator whole_number(int64_t lo, int64_t hi = std::numeric_limits<int64_t>::max()) {
  const std::string range = hi == std::numeric_limits<int64_t>::max()
                                ? ">= " + std::to_string(lo)
                                : "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        size_t used = 0;
        long long v = 0;
        try {
          v = std::stoll(text, &used, 10);
        } catch (const std::exception&) {
          used = 0;
        }
        if (text.empty() || used != text.size() || v < lo || v > hi)
          return "must be a whole number " + range + ", got '" + text + "'";
        return std::string();
      },
      // Shown in --help after the type, as CLI11's own checks do ("INT:POSITIVE=256").
      lo == 1 && hi == std::numeric_limits<int64_t>::max()   ? "POSITIVE"
      : lo == 0 && hi == std::numeric_limits<int64_t>::max() ? "NONNEGATIVE"
                                                             : range);
}

/// A seed: a whole number in [0, 2^64) (CLI11 would wrap "-1" to 18446744073709551615).
inline CLI::Validator seed_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        size_t used = 0;
        try {
          if (!text.empty() && text[0] != '-' && text[0] != '+') std::stoull(text, &used, 10);
        } catch (const std::exception&) {
          used = 0;
        }
        if (text.empty() || used != text.size()) return "must be a whole number >= 0, got '" + text + "'";
        return std::string();
      },
      "");
}

}  // namespace bipeft::cli
