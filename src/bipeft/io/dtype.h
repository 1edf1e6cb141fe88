#pragma once
// Names and sizes of the element types found in checkpoint files.
#include <cstddef>
#include <optional>
#include <string>

#include <c10/core/ScalarType.h>

namespace bipeft::io {

/// The safetensors dtype string ("F32", "BF16", ...) of a torch dtype; throws ConfigError if unsupported.
std::string safetensors_dtype_name(c10::ScalarType t);
/// The torch dtype of a safetensors dtype string, or nullopt if unknown / unsupported.
std::optional<c10::ScalarType> dtype_from_safetensors(const std::string& name);
/// Parses a user-facing dtype name: f32/float32, bf16/bfloat16, f16/float16; throws ConfigError.
c10::ScalarType parse_compute_dtype(const std::string& name);

}  // namespace bipeft::io
