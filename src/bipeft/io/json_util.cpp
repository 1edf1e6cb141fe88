#include "bipeft/io/json_util.h"

#include <cmath>
#include <cstdint>

#include "bipeft/io/file_util.h"

namespace bipeft::io {

nlohmann::json parse_json(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(where + ": not valid JSON (byte " + std::to_string(e.byte) +
                      "): " + e.what());
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number too large for a double
    throw FormatError(where + ": not valid JSON: " + e.what());
  }
}

nlohmann::json read_json_file(const std::string& path) { return parse_json(read_file(path), path); }

void write_json_atomic(const std::string& path, const nlohmann::json& j, int indent) {
  write_file_atomic(path, j.dump(indent) + "\n");
}

std::string json_type_name(const nlohmann::json& j) { return j.type_name(); }

namespace {

template <typename T>
bool json_is(const nlohmann::json& v);
template <>
bool json_is<std::string>(const nlohmann::json& v) { return v.is_string(); }
template <>
bool json_is<bool>(const nlohmann::json& v) { return v.is_boolean(); }
template <>
bool json_is<double>(const nlohmann::json& v) { return v.is_number(); }
template <>
bool json_is<int64_t>(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
  if (v.is_number_integer()) return true;
  // Accept 12.0 but not 12.5, nor values outside int64 (casting those is undefined behaviour).
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == std::trunc(d);
}
template <>
bool json_is<nlohmann::json>(const nlohmann::json&) { return true; }

template <typename T>
const char* type_word();
template <>
const char* type_word<std::string>() { return "a string"; }
template <>
const char* type_word<bool>() { return "true or false"; }
template <>
const char* type_word<double>() { return "a number"; }
template <>
const char* type_word<int64_t>() { return "an integer"; }
template <>
const char* type_word<nlohmann::json>() { return "a value"; }

template <typename T>
T convert(const nlohmann::json& v) {
  if constexpr (std::is_same_v<T, int64_t>) {
    return v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
  } else {
    return v.get<T>();
  }
}

}  // namespace

template <typename T>
T json_required(const nlohmann::json& j, const std::string& key, const std::string& where) {
  if (!j.is_object()) throw FormatError(where + ": expected a JSON object, found " + j.type_name());
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    throw FormatError(where + ": missing field '" + key + "'");
  if (!json_is<T>(*it))
    throw FormatError(where + ": field '" + key + "' must be " + type_word<T>() + ", found " +
                      it->type_name() + " " + it->dump());
  return convert<T>(*it);
}

template <typename T>
T json_optional(const nlohmann::json& j, const std::string& key, const T& fallback,
                const std::string& where) {
  if (!j.is_object()) throw FormatError(where + ": expected a JSON object, found " + j.type_name());
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return json_required<T>(j, key, where);
}

template std::string json_required<std::string>(const nlohmann::json&, const std::string&, const std::string&);
template bool json_required<bool>(const nlohmann::json&, const std::string&, const std::string&);
template double json_required<double>(const nlohmann::json&, const std::string&, const std::string&);
template int64_t json_required<int64_t>(const nlohmann::json&, const std::string&, const std::string&);
template nlohmann::json json_required<nlohmann::json>(const nlohmann::json&, const std::string&, const std::string&);
template std::string json_optional<std::string>(const nlohmann::json&, const std::string&, const std::string&, const std::string&);
template bool json_optional<bool>(const nlohmann::json&, const std::string&, const bool&, const std::string&);
template double json_optional<double>(const nlohmann::json&, const std::string&, const double&, const std::string&);
template int64_t json_optional<int64_t>(const nlohmann::json&, const std::string&, const int64_t&, const std::string&);
template nlohmann::json json_optional<nlohmann::json>(const nlohmann::json&, const std::string&, const nlohmann::json&, const std::string&);

}  // namespace bipeft::io
