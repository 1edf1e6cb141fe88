#pragma once
// Loading and saving T5 weights in the Hugging Face layout. This file holds the one table of HF
// names that are not plain module parameters (tied aliases, tensors transformers ignores).
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "bipeft/io/checkpoint.h"
#include "bipeft/model/t5_model.h"

namespace bipeft {
struct RunContext;
}  // namespace bipeft

namespace bipeft::model {

/// Copies every backbone tensor from `source` into `model` (converted to the model's dtype).
/// Missing, unexpected and shape-mismatched tensors are collected and reported in one FormatError.
void load_t5_weights(T5ModelImpl& model, const io::TensorSource& source);

/// Options for loading a model folder.
struct LoadOptions {
  c10::ScalarType dtype = c10::kFloat;  // compute dtype (F16/BF16/F32 weights are converted)
  c10::Device device = c10::Device("cpu");
};

/// Reads config.json and the weights of `dir`; returns the model (eval mode, frozen, on the device).
T5Model load_t5(const std::string& dir, const LoadOptions& options = {});
/// load_t5 on the run's device in its compute dtype.
T5Model load_t5(const std::string& dir, const RunContext& ctx);

/// Writes config.json and model.safetensors (tied aliases dropped) into `dir`, atomically. Tensors
/// are stored in `storage` (F32, BF16 or F16; the config's torch_dtype says which); default F32.
void save_t5(T5ModelImpl& model, const std::string& dir, c10::ScalarType storage = c10::kFloat);

}  // namespace bipeft::model
