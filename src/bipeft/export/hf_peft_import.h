#pragma once
// Import of a Hugging Face PEFT adapter folder (FORMATS.md §B) onto a T5 backbone. LoRA adapters
// (adapter_config.json + adapter_model.safetensors, or adapter_model.bin) become bipeft LoRA modules at
// each tensor's rank with PEFT's scaling folded into B: B_bipeft = B_peft * scaling_i, where
// scaling_i = alpha_i / r_i (alpha_i / sqrt(r_i) with use_rslora), alpha_i and r_i from alpha_pattern /
// rank_pattern (first matching key) or lora_alpha / r. LN tuning adapters (what bipeft's export writes in
// ln_tuning/) become LNFit modules with delta = new norm weight - backbone norm weight.
#include <string>

#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_model.h"

namespace bipeft::exporter {

/// True when `dir` holds a PEFT adapter: adapter_config.json, or only ln_tuning/adapter_config.json.
bool is_hf_peft_adapter(const std::string& dir);

/// Builds LoRA (and LNFit) modules from the PEFT adapter in `dir` on `backbone` and loads their weights.
/// Reads `dir`/adapter_config.json (peft_type LORA or LN_TUNING) and, when present, the LN tuning adapter
/// in `dir`/ln_tuning/. Keys may carry the "base_model.model." prefix and an adapter name
/// ("lora_A.default.weight"). Throws IoError for missing files, FormatError for a bad config or
/// unsupported peft_type, and one FormatError listing every unknown module, missing A/B, shape or rank
/// mismatch and unsupported tensor.
peft::PeftModel load_hf_peft_adapter(model::T5Model backbone, const std::string& dir);

}  // namespace bipeft::exporter
