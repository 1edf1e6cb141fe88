#pragma once
// Reading JSON files and fields with errors that name the file and the field.
#include <string>
#include <utility>

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

/// Reads the fields of the JSON object `j` into variables (any type nlohmann converts, containers
/// included). A missing field, or one of the wrong type, is a FormatError
/// "<where>: <what> field "<key>" is missing or malformed (<detail>); <fix>".
class JsonFields {
 public:
  JsonFields(const nlohmann::json& j, std::string where, std::string what, std::string fix)
      : j_(j), where_(std::move(where)), what_(std::move(what)), fix_(std::move(fix)) {}
  template <typename T>
  void get(const char* key, T& out) const {
    try {
      j_.at(key).get_to(out);
    } catch (const nlohmann::json::exception& e) {
      fail(key, e.what());
    }
  }
  /// `fallback` when the field is absent (states written before it existed).
  template <typename T>
  void get_or(const char* key, T& out, const T& fallback) const {
    if (j_.is_object() && !j_.contains(key)) out = fallback;
    else get(key, out);
  }
  [[noreturn]] void fail(const char* key, const std::string& detail) const {
    throw FormatError(where_ + ": " + what_ + " field \"" + key + "\" is missing or malformed (" + detail + "); " + fix_);
  }

 private:
  const nlohmann::json& j_;
  std::string where_, what_, fix_;
};

}  // namespace bipeft::io
