#pragma once
// The parameter budget: an absolute count ("102600") or a ratio of the backbone's parameters
// ("1.39e-4", "1.39permyriad" / "1.39‱", "0.0139%"). The paper's "1.39%%" means 1.39 per ten-thousand.
#include <cstdint>
#include <string>

namespace bipeft::search {

struct Budget {
  double params = 0;          // absolute number of trainable parameters
  std::string given;          // the text the user gave
  /// "102600 parameters (1.391‱ of 737.6M)".
  std::string describe(int64_t backbone_params) const;
};

/// Parses a budget; throws ConfigError naming the accepted forms. Plain numbers >= 1 are counts,
/// numbers in (0, 1) are ratios.
Budget parse_budget(const std::string& text, int64_t backbone_params);

}  // namespace bipeft::search
