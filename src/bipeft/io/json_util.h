#pragma once
// Reading JSON files and fields with errors that name the file and the field.
#include <string>

#include <nlohmann/json.hpp>

#include "bipeft/core/error.h"

namespace bipeft::io {

/// Parses the JSON file at `path`. Throws IoError if unreadable, FormatError (with the byte
/// position) if it is not valid JSON.
nlohmann::json read_json_file(const std::string& path);

/// Parses `text` as JSON; `where` names the source in the error message (FormatError).
nlohmann::json parse_json(const std::string& text, const std::string& where);

/// Writes `j` to `path` atomically, pretty-printed with `indent` spaces.
void write_json_atomic(const std::string& path, const nlohmann::json& j, int indent = 2);

/// Human name of a JSON value's type ("string", "number", ...), for error messages.
std::string json_type_name(const nlohmann::json& j);

/// Returns field `key` of object `j` converted to T. Throws FormatError naming `where` and the field
/// when the field is missing or has the wrong type.
template <typename T>
T json_required(const nlohmann::json& j, const std::string& key, const std::string& where);

/// Like json_required, but returns `fallback` when the field is absent or null.
template <typename T>
T json_optional(const nlohmann::json& j, const std::string& key, const T& fallback,
                const std::string& where);

}  // namespace bipeft::io
