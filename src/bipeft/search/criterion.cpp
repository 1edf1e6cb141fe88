#include "bipeft/search/criterion.h"

#include <algorithm>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::search {

const std::vector<std::string>& criterion_names() {
  static const std::vector<std::string> names{"tra", "val", "tra_val", "tra_val_cos1", "tra_val_cos2", "gate_effect"};
  return names;
}

Criterion parse_criterion(const std::string& name, const std::string& field) {
  const auto& names = criterion_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end())
    throw ConfigError(field + ": unknown sensitivity criterion '" + name + "'; use " + join(names, ", ") +
                      " (default tra_val_cos1)");
  return static_cast<Criterion>(it - names.begin());
}

std::string criterion_name(Criterion c) { return criterion_names().at(static_cast<size_t>(c)); }

}  // namespace bipeft::search
