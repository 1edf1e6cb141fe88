#pragma once
// Merged export (FORMATS.md §B.3): a full Hugging Face T5 checkpoint with every mergeable PEFT delta folded
// into the weights (LoRA: W += B A; LNFit: norm weight += delta; a fine-tuned backbone is its own weights).
// Modules that change the function in ways a T5 checkpoint cannot hold (BitFit, adapters, prefix) are
// refused, or dropped when the caller allows it.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_model.h"

namespace bipeft::exporter {

/// A merged backbone and what went into it.
struct MergeResult {
  model::T5Model merged{nullptr};       // a new model (eval mode, frozen); the adapter's backbone is untouched
  std::vector<std::string> merged_ids;  // module ids folded into `merged`
  std::vector<std::string> unmergeable; // module ids left out ("prefix_shared" for the shared prefix part)
};

/// Copies `model`'s backbone (no hooks) and folds every module into the copy at its full rank. Never throws
/// for unmergeable modules: they are listed in `unmergeable`.
MergeResult merge_adapter(const peft::PeftModelImpl& model);

/// Options of export_merged.
struct MergedExportOptions {
  bool drop_unmergeable = false;  // write the checkpoint without the unmergeable modules instead of refusing
  std::string model_dir;          // base model folder: spiece.model and other tokenizer files are copied from it
};

/// Writes config.json, model.safetensors (float32 weights as the backbone holds them), the tokenizer files
/// of options.model_dir and bipeft_export.json into `out`. Throws ConfigError listing the unmergeable
/// modules (nothing written) unless drop_unmergeable. Returns the report written to bipeft_export.json.
nlohmann::json export_merged(const peft::PeftModelImpl& model, const std::string& out,
                             const MergedExportOptions& options = {});

/// Files copied from the base model folder into a merged checkpoint when present.
const std::vector<std::string>& tokenizer_files();

}  // namespace bipeft::exporter
