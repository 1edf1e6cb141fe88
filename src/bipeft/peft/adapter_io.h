#pragma once
// The native adapter folder: structure.json (the structure plus counts and provenance) and
// adapter.safetensors (every module's tensors at its rank, named "<site>.<method>.<tensor>").
#include <string>

#include <nlohmann/json.hpp>

#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_model.h"

namespace bipeft::peft {

/// File names inside an adapter folder.
inline constexpr const char* kStructureFile = "structure.json";
inline constexpr const char* kAdapterWeightsFile = "adapter.safetensors";

/// The structure JSON with counts: trainable_params (exact), backbone_params, ratio and its per-myriad
/// value, plus `extra` merged in (e.g. provenance).
nlohmann::json structure_report(const PeftModelImpl& model, const nlohmann::json& extra = {});

/// Writes structure.json and adapter.safetensors into `dir` (created if missing), each atomically.
void save_native_adapter(const PeftModelImpl& model, const std::string& dir, const nlohmann::json& extra = {});

/// True when `dir` holds a native adapter (structure.json).
bool is_native_adapter(const std::string& dir);

/// Builds the modules of `dir`/structure.json on `backbone` and loads their weights. Throws
/// IoError/FormatError naming the file when something is missing or does not fit the backbone.
PeftModel load_native_adapter(model::T5Model backbone, const std::string& dir);

}  // namespace bipeft::peft
