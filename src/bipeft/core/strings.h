#pragma once
// Small string helpers shared by every area.
#include <string>
#include <string_view>
#include <vector>

namespace bipeft {

/// Splits `s` at every `sep` (empty fields kept).
std::vector<std::string> split(std::string_view s, char sep);
/// Joins with `sep` between items.
std::string join(const std::vector<std::string>& items, std::string_view sep);
/// Strips ASCII whitespace at both ends.
std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
/// Lower-cases ASCII letters.
std::string to_lower(std::string_view s);
/// Human-readable parameter count: 1234567 -> "1.23M".
std::string human_count(double n);
/// Escapes &, <, > and " for SVG/XML text and attribute values.
std::string xml_escape(std::string_view s);
/// Formats a shape as "[3, 4]".
std::string shape_str(const std::vector<int64_t>& shape);
/// A duration for people: "42s", "3m05s", "2h07m" ("?" when negative or not finite).
std::string format_duration(double seconds);

}  // namespace bipeft
