#pragma once
// Mapping generated text back to what the metrics compare (FORMATS.md §C: string_label_to_class_id,
// string_to_float).
#include <cstdint>
#include <string>
#include <vector>

namespace bipeft::eval {

/// Index of `prediction` in `labels` (exact match), or -1 when it is none of them.
int64_t label_index(const std::string& prediction, const std::vector<std::string>& labels);

/// `text` as a number, or `fallback` when it is not one (STS-B: an unparseable prediction is -1).
double parse_float_or(const std::string& text, double fallback);

}  // namespace bipeft::eval
