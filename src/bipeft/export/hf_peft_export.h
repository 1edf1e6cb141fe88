#pragma once
// Export of a bipeft adapter in Hugging Face PEFT format (FORMATS.md §B.1-B.2). The LoRA modules become
// the default PEFT adapter (adapter_config.json + adapter_model.safetensors in the output folder), LNFit
// becomes a PEFT LN tuning adapter in the sub-folder ln_tuning/, and the complete native adapter goes to
// native/ so the parts PEFT cannot hold (BitFit, adapters, prefix, a fine-tuned backbone) are kept.
// A report, bipeft_export.json, says what went where.
//
// Scaling fold (§B.2 recipe): bipeft's LoRA has no scaling (y += x A^T B^T); PEFT computes
// y += x A^T B^T * lora_alpha / r_i. The export writes one global lora_alpha = r = the largest kept rank
// and stores B_i * r_i / lora_alpha, so PEFT's lora_alpha / r_i times the stored B_i equals bipeft's B_i.
// Modules at the largest rank are stored unchanged; rank_pattern lists the others.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/io/safetensors.h"
#include "bipeft/peft/peft_model.h"

namespace bipeft::exporter {

/// Names inside an export folder.
inline constexpr const char* kExportReportFile = "bipeft_export.json";
inline constexpr const char* kNativeSubdir = "native";

/// One Hugging Face PEFT adapter in memory.
struct HfAdapter {
  nlohmann::json config;              // adapter_config.json
  io::NamedTensors tensors;           // adapter_model.safetensors: "base_model.model.<module>.<suffix>"
  std::vector<std::string> modules;   // full module names (the target_modules list), model order
  std::vector<int64_t> ranks;         // LoRA rank of each module (empty for LN tuning)
};

/// Options of export_hf_peft.
struct HfPeftExportOptions {
  std::string base_model_name_or_path;  // written to adapter_config.json (the --model path)
  std::string native_source;  // native adapter folder copied verbatim to <out>/native; empty: saved from the model
  std::string producer;       // bipeft_export.json's "producer"; empty: "bipeft-<version>"
};

/// What an export wrote.
struct HfPeftExportSummary {
  std::vector<std::string> lora_modules;       // in the root adapter
  std::vector<std::string> ln_tuning_modules;  // in ln_tuning/
  std::vector<std::string> native_only;        // module ids PEFT cannot hold ("backbone" when fine-tuned)
  int64_t lora_r = 0;                          // r = lora_alpha of the root adapter (0 without LoRA)
  nlohmann::json report;                       // the content of bipeft_export.json
  /// True when nothing went into a PEFT adapter (only native/ and the report were written).
  bool nothing_for_peft() const { return lora_modules.empty() && ln_tuning_modules.empty(); }
};

/// The LoRA modules of `model` as a PEFT LORA adapter with the scaling folded into B; nullopt without LoRA.
std::optional<HfAdapter> hf_lora_adapter(const peft::PeftModelImpl& model, const HfPeftExportOptions& options = {});
/// The LNFit modules of `model` as a PEFT LN_TUNING adapter (weights = norm + delta); nullopt without LNFit.
std::optional<HfAdapter> hf_ln_tuning_adapter(const peft::PeftModelImpl& model,
                                              const HfPeftExportOptions& options = {});

/// Writes adapter_config.json and adapter_model.safetensors (metadata {"format": "pt"}) into `dir`,
/// creating it; each file atomically. Throws IoError when the folder is not writable.
void save_hf_adapter(const HfAdapter& adapter, const std::string& dir);

/// Writes the PEFT export of `model` into `out` (created if missing; existing files of the same names are
/// replaced): the LoRA adapter, ln_tuning/, native/ and bipeft_export.json. Never throws for an adapter
/// without LoRA or LNFit: then only native/ and the report are written and nothing_for_peft() is true.
HfPeftExportSummary export_hf_peft(const peft::PeftModelImpl& model, const std::string& out,
                                   const HfPeftExportOptions& options = {});

/// "bipeft-<version>", the default producer string.
std::string default_producer();

}  // namespace bipeft::exporter
