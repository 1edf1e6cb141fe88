#pragma once
// A PEFT structure is data: the list of (module name in HF naming, method, rank) the search writes and
// the trainer reads, plus the sizes shared by all modules and whether the backbone is fine-tuned.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/model/site.h"
#include "bipeft/peft/methods.h"

namespace bipeft::peft {

struct Structure {
  std::vector<ModuleSpec> modules;
  bool full_finetune = false;  // every backbone parameter is trained too (method "full")
  PeftOptions options;

  /// {"format": "bipeft-structure", "version": 1, "modules": [{"module", "method", "rank"}...], ...}
  nlohmann::json to_json() const;
  /// Parses a structure; FormatError naming `where` and the offending entry.
  static Structure from_json(const nlohmann::json& j, const std::string& where);
  /// Reads a structure.json file.
  static Structure read(const std::string& path);
  /// Checks every entry against the backbone's sites: unknown module, method that cannot attach there,
  /// duplicate (module, method), bad rank. Throws ConfigError listing the problems.
  void validate(const std::vector<model::SiteInfo>& sites, const std::string& where) const;
};

/// Builds a structure from manual shortcuts. Each spec is a method name, a comma list of names
/// ("lora,bitfit"), "full", or "name:r=N:targets=a,b" with per-method overrides. `rank` and
/// `targets` (positions such as q,v,wi,wo,attn,ffn,attn_ln, "all", "cross", or full module names)
/// apply to every listed method that accepts them; an empty `targets` means each method's defaults.
Structure manual_structure(const std::vector<std::string>& specs, int64_t rank, const std::vector<std::string>& targets,
                           const std::vector<model::SiteInfo>& sites);

}  // namespace bipeft::peft
