#include "bipeft/eval/postprocess.h"

#include "bipeft/data/prompt.h"

namespace bipeft::eval {

int64_t label_index(const std::string& prediction, const std::vector<std::string>& labels) {
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == prediction) return static_cast<int64_t>(i);
  return -1;
}

double parse_float_or(const std::string& text, double fallback) {
  double v = 0;
  return data::parse_number(text, v) ? v : fallback;
}

}  // namespace bipeft::eval
