#pragma once
// One entry point for every adapter folder bipeft reads: its own native format (structure.json +
// adapter.safetensors) or a Hugging Face PEFT adapter (adapter_config.json + adapter_model.*).
#include <string>

#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_model.h"

namespace bipeft::exporter {

/// Which format an adapter folder holds.
enum class AdapterFormat { Native, HfPeft };

/// The format of the adapter in `dir`. Throws IoError when `dir` is not a folder and FormatError when it
/// holds neither structure.json nor adapter_config.json.
AdapterFormat detect_adapter_format(const std::string& dir);

/// The adapter in `dir` (native, or PEFT LoRA / LN tuning) built on `backbone`, attached, weights loaded.
/// Throws IoError/FormatError naming the folder and the problem (see peft::load_native_adapter and
/// load_hf_peft_adapter).
peft::PeftModel load_adapter(model::T5Model backbone, const std::string& dir);

}  // namespace bipeft::exporter
