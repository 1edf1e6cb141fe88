#include "bipeft/search/budget.h"

#include <cmath>
#include <cstdio>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::search {

std::string Budget::describe(int64_t backbone) const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.0f parameters (%.4g\u2031 = %.4g%% of %s)", params,
                1e4 * params / static_cast<double>(backbone), 100.0 * params / static_cast<double>(backbone),
                human_count(static_cast<double>(backbone)).c_str());
  return buf;
}

Budget parse_budget(const std::string& text, int64_t backbone) {
  const std::string t = trim(text);
  const auto bad = [&] {
    return OptionError("Budget", "budget",
                       "'" + text +
                           "' is not a budget; give a parameter count (102600), a ratio (1.39e-4), per ten-thousand "
                           "(1.39permyriad) or a percentage (0.0139%)");
  };
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(t, &used);
  } catch (const std::exception&) {
    throw bad();
  }
  const std::string unit = to_lower(trim(t.substr(used)));
  Budget b;
  b.given = text;
  if (!std::isfinite(v) || v <= 0) throw OptionError("Budget", "budget", "must be positive, got '" + text + "'");
  if (unit.empty()) {
    b.params = v >= 1 ? std::floor(v) : v * static_cast<double>(backbone);
  } else if (unit == "%") {
    b.params = v / 100.0 * static_cast<double>(backbone);
  } else if (unit == "permyriad" || unit == "\u2031" || unit == "%%" || unit == "bp") {
    b.params = v / 1e4 * static_cast<double>(backbone);
  } else if (unit == "permille" || unit == "\u2030") {
    b.params = v / 1e3 * static_cast<double>(backbone);
  } else {
    throw bad();
  }
  b.params = std::floor(b.params);
  if (b.params < 1) throw OptionError("Budget", "budget", "'" + text + "' is less than one parameter of this backbone");
  return b;
}

}  // namespace bipeft::search
