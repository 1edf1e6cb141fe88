#include "bipeft/export/hf_peft_config.h"

#include <cmath>
#include <regex>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/file_util.h"

namespace bipeft::exporter {

namespace {

using ojson = nlohmann::ordered_json;

std::string type_of(const ojson& v) { return v.type_name(); }

/// Field `key` when present and not null, else nullptr.
const ojson* field(const ojson& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const ojson& j, const char* key, const std::string& where) {
  const auto* v = field(j, key);
  if (v == nullptr) return "";
  if (!v->is_string()) throw FormatError(where + ": '" + key + "' must be a string, found " + type_of(*v));
  return v->get<std::string>();
}

bool bool_field(const ojson& j, const char* key, bool fallback, const std::string& where) {
  const auto* v = field(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) throw FormatError(where + ": '" + key + "' must be true or false, found " + type_of(*v));
  return v->get<bool>();
}

/// True for integers and integral floats (8.0) that fit int64.
bool is_integral(const ojson& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return d >= -9223372036854775808.0 && d < 9223372036854775808.0 && std::floor(d) == d;
}

int64_t rank_value(const ojson& v, const std::string& what, const std::string& where) {
  if (!is_integral(v)) throw FormatError(where + ": " + what + " must be an integer, found " + v.dump());
  const auto r = v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
  if (r < 1) throw FormatError(where + ": " + what + " is " + std::to_string(r) + "; LoRA ranks must be >= 1");
  return r;
}

double number_value(const ojson& v, const std::string& what, const std::string& where) {
  if (!v.is_number()) throw FormatError(where + ": " + what + " must be a number, found " + v.dump());
  return v.get<double>();
}

// Patterns come from the file, so they are bounded before std::regex sees them: libstdc++ compiles
// recursively (one level per term and per group: long or deeply nested patterns overflow the stack), and
// its default depth-first matcher takes exponential time on patterns such as (.*)*x. Real PEFT patterns
// are short module-name expressions.
constexpr size_t kMaxPatternLength = 1024;
constexpr int kMaxPatternNesting = 32;

#if defined(__GLIBCXX__)
// libstdc++ extension: the breadth-first matcher, polynomial time (patterns with back-references are refused).
constexpr auto kPatternFlags = std::regex::ECMAScript | std::regex_constants::__polynomial;
#else
constexpr auto kPatternFlags = std::regex::ECMAScript;
#endif

/// Compiles `prefix + pattern + suffix`; FormatError naming `what` '`pattern`' at `where` when the pattern
/// is too long, too deeply nested or invalid.
std::regex compile_pattern(const std::string& pattern, const std::string& what, const std::string& where,
                           const std::string& prefix = "", const std::string& suffix = "") {
  const auto bad = [&](const std::string& why) {
    return FormatError(where + ": " + what + " '" + pattern.substr(0, 80) + (pattern.size() > 80 ? "..." : "") +
                       "' is not a valid regular expression (" + why + ")");
  };
  if (pattern.size() > kMaxPatternLength)
    throw bad("longer than " + std::to_string(kMaxPatternLength) + " characters");
  int depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') ++i;
    else if (pattern[i] == '(' && ++depth > kMaxPatternNesting)
      throw bad("groups nested more than " + std::to_string(kMaxPatternNesting) + " deep");
    else if (pattern[i] == ')' && depth > 0) --depth;
  }
  try {
    return std::regex(prefix + pattern + suffix, kPatternFlags);
  } catch (const std::regex_error& e) {
    throw bad(e.what());
  }
}

}  // namespace

bool pattern_key_matches(const std::string& key, const std::string& module, const std::string& where) {
  return std::regex_match(module, compile_pattern(key, "pattern key", where, "(.*\\.)?(", ")"));
}

HfPeftConfig HfPeftConfig::parse(const std::string& text, const std::string& where) {
  ojson j;
  try {
    j = ojson::parse(text);
  } catch (const ojson::parse_error& e) {
    throw FormatError(where + ": not valid JSON (byte " + std::to_string(e.byte) + "): " + e.what());
  } catch (const ojson::exception& e) {  // out_of_range: a number too large for a double
    throw FormatError(where + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FormatError(where + ": expected a JSON object, found " + type_of(j));
  HfPeftConfig c;
  c.peft_type = string_field(j, "peft_type", where);
  if (c.peft_type.empty()) throw FormatError(where + ": missing 'peft_type' (e.g. \"LORA\"); not a PEFT adapter config");
  c.task_type = string_field(j, "task_type", where);
  c.base_model_name_or_path = string_field(j, "base_model_name_or_path", where);

  if (const auto* t = field(j, "target_modules")) {
    if (t->is_string()) {
      c.target_is_regex = true;
      c.target_regex = t->get<std::string>();
      compile_pattern(c.target_regex, "target_modules", where);
    } else if (t->is_array()) {
      for (const auto& e : *t) {
        if (!e.is_string()) throw FormatError(where + ": target_modules entries must be strings, found " + e.dump());
        c.target_list.push_back(e.get<std::string>());
      }
    } else {
      throw FormatError(where + ": target_modules must be a list of names or a regex string, found " + type_of(*t));
    }
  }

  if (c.peft_type != "LORA") return c;

  if (const auto* r = field(j, "r")) c.r = rank_value(*r, "'r'", where);
  if (const auto* a = field(j, "lora_alpha")) c.lora_alpha = number_value(*a, "'lora_alpha'", where);
  c.use_rslora = bool_field(j, "use_rslora", false, where);
  if (bool_field(j, "fan_in_fan_out", false, where))
    throw FormatError(where + ": fan_in_fan_out is true (Conv1D-style weights); T5 adapters must have it false");
  if (const auto bias = string_field(j, "bias", where); !bias.empty() && bias != "none")
    throw FormatError(where + ": bias is \"" + bias + "\"; only \"none\" is supported (T5 layers have no bias)");
  if (bool_field(j, "use_dora", false, where))
    throw FormatError(where + ": use_dora is true; DoRA adapters are not supported, only plain LoRA");
  if (bool_field(j, "lora_bias", false, where))
    throw FormatError(where + ": lora_bias is true; LoRA with a bias on lora_B is not supported");
  if (const auto* m = field(j, "modules_to_save"); m != nullptr && !(m->is_array() && m->empty()))
    throw FormatError(where + ": modules_to_save " + m->dump() +
                      " holds fully trained copies of modules; bipeft imports only the LoRA part");
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    const auto* p = field(j, key);
    if (p == nullptr) continue;
    if (!p->is_object()) throw FormatError(where + ": '" + key + "' must be an object {pattern: value}");
    for (auto it = p->begin(); it != p->end(); ++it) {
      const std::string what = std::string(key) + "['" + it.key() + "']";
      pattern_key_matches(it.key(), "", where);  // validates the regex
      if (std::string(key) == "rank_pattern")
        c.rank_pattern.emplace_back(it.key(), rank_value(it.value(), what, where));
      else
        c.alpha_pattern.emplace_back(it.key(), number_value(it.value(), what, where));
    }
  }
  return c;
}

HfPeftConfig HfPeftConfig::read(const std::string& path) { return parse(io::read_file(path), path); }

bool HfPeftConfig::targets(const std::string& module) const {
  if (target_is_regex) {
    if (target_regex == "all-linear") return true;
    return std::regex_match(module, compile_pattern(target_regex, "target_modules", "adapter_config.json"));
  }
  if (target_list.empty()) return true;
  for (const auto& t : target_list)
    if (module == t || ends_with(module, "." + t)) return true;
  return false;
}

int64_t HfPeftConfig::rank_of(const std::string& module) const {
  for (const auto& [key, value] : rank_pattern)
    if (pattern_key_matches(key, module, "rank_pattern")) return value;
  return r;
}

double HfPeftConfig::alpha_of(const std::string& module) const {
  for (const auto& [key, value] : alpha_pattern)
    if (pattern_key_matches(key, module, "alpha_pattern")) return value;
  return lora_alpha;
}

double HfPeftConfig::scaling_of(const std::string& module) const {
  const double rank = static_cast<double>(rank_of(module));
  return use_rslora ? alpha_of(module) / std::sqrt(rank) : alpha_of(module) / rank;
}

}  // namespace bipeft::exporter
