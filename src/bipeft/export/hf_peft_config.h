#pragma once
// The adapter_config.json of a Hugging Face PEFT adapter (FORMATS.md §B): file names, the key prefix of
// its tensors, and the LoRA fields that decide which modules are adapted and how they are scaled
// (r, lora_alpha, rank_pattern, alpha_pattern, use_rslora), with PEFT's matching rules.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace bipeft::exporter {

/// File and folder names of a PEFT adapter folder.
inline constexpr const char* kHfConfigFile = "adapter_config.json";
inline constexpr const char* kHfSafetensorsFile = "adapter_model.safetensors";
inline constexpr const char* kHfBinFile = "adapter_model.bin";
/// Prefix PEFT puts before the base model's module names in tensor keys.
inline constexpr const char* kHfKeyPrefix = "base_model.model.";
/// Sub-folder (PEFT's layout for a second, non-default adapter) holding the LN tuning part of an export.
inline constexpr const char* kLnTuningSubdir = "ln_tuning";
/// task_type written for T5.
inline constexpr const char* kHfTaskType = "SEQ_2_SEQ_LM";

/// The fields of adapter_config.json that bipeft reads.
struct HfPeftConfig {
  std::string peft_type;  // "LORA", "LN_TUNING", ...
  std::string task_type;  // may be empty
  std::string base_model_name_or_path;
  // target_modules: a list (exact name or ".<entry>" suffix) or one regex (full match); both empty = unset.
  std::vector<std::string> target_list;
  std::string target_regex;
  bool target_is_regex = false;
  // LoRA only.
  int64_t r = 8;
  double lora_alpha = 8.0;
  bool use_rslora = false;  // scaling = alpha / sqrt(r) instead of alpha / r
  std::vector<std::pair<std::string, int64_t>> rank_pattern;  // in file order: the first match wins
  std::vector<std::pair<std::string, double>> alpha_pattern;

  /// Parses `text` (the content of `where`). Throws FormatError naming `where` and the field for invalid
  /// JSON, a missing peft_type, wrong types, or LoRA options bipeft cannot represent (fan_in_fan_out,
  /// bias other than "none", use_dora, lora_bias, modules_to_save, non-positive r/rank_pattern).
  static HfPeftConfig parse(const std::string& text, const std::string& where);
  /// Reads and parses `path`; IoError when it cannot be read.
  static HfPeftConfig read(const std::string& path);

  /// True when target_modules selects `module` (unset target_modules selects everything).
  bool targets(const std::string& module) const;
  /// LoRA rank of `module`: the first matching rank_pattern key, else r.
  int64_t rank_of(const std::string& module) const;
  /// LoRA alpha of `module`: the first matching alpha_pattern key, else lora_alpha.
  double alpha_of(const std::string& module) const;
  /// PEFT's scaling of `module`: alpha_of / rank_of (alpha_of / sqrt(rank_of) with use_rslora).
  double scaling_of(const std::string& module) const;
};

/// PEFT's pattern-key rule (peft utils/other.py:get_pattern_key): `key` is a regex that matches a module when
/// the module name fully matches `(.*\.)?(key)$`. Throws FormatError naming `where` for an invalid regex.
bool pattern_key_matches(const std::string& key, const std::string& module, const std::string& where);

}  // namespace bipeft::exporter
