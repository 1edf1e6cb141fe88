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

bool is_integral(const ojson& v) {
  if (v.is_number_integer()) return true;
  return v.is_number_float() && std::floor(v.get<double>()) == v.get<double>();
}

int64_t rank_value(const ojson& v, const std::string& what, const std::string& where) {
  if (!is_integral(v)) throw FormatError(where + ": " + what + " must be an integer, found " + v.dump());
  const auto r = static_cast<int64_t>(v.get<double>());
  if (r < 1) throw FormatError(where + ": " + what + " is " + std::to_string(r) + "; LoRA ranks must be >= 1");
  return r;
}

double number_value(const ojson& v, const std::string& what, const std::string& where) {
  if (!v.is_number()) throw FormatError(where + ": " + what + " must be a number, found " + v.dump());
  return v.get<double>();
}

}  // namespace

bool pattern_key_matches(const std::string& key, const std::string& module, const std::string& where) {
  try {
    return std::regex_match(module, std::regex("(.*\\.)?(" + key + ")"));
  } catch (const std::regex_error& e) {
    throw FormatError(where + ": pattern key '" + key + "' is not a valid regular expression (" + e.what() + ")");
  }
}

HfPeftConfig HfPeftConfig::parse(const std::string& text, const std::string& where) {
  ojson j;
  try {
    j = ojson::parse(text);
  } catch (const ojson::parse_error& e) {
    throw FormatError(where + ": not valid JSON (byte " + std::to_string(e.byte) + "): " + e.what());
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
      try {
        std::regex check(c.target_regex);
      } catch (const std::regex_error& e) {
        throw FormatError(where + ": target_modules '" + c.target_regex + "' is not a valid regular expression (" +
                          e.what() + ")");
      }
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
    return std::regex_match(module, std::regex(target_regex));
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
