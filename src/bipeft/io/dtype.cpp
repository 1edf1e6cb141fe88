#include "bipeft/io/dtype.h"

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::io {

std::string safetensors_dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat: return "F32";
    case c10::kDouble: return "F64";
    case c10::kHalf: return "F16";
    case c10::kBFloat16: return "BF16";
    case c10::kLong: return "I64";
    case c10::kInt: return "I32";
    case c10::kShort: return "I16";
    case c10::kChar: return "I8";
    case c10::kByte: return "U8";
    case c10::kBool: return "BOOL";
    default: throw ConfigError(std::string("cannot store dtype ") + c10::toString(t) + " in safetensors");
  }
}

std::optional<c10::ScalarType> dtype_from_safetensors(const std::string& name) {
  if (name == "F32") return c10::kFloat;
  if (name == "F64") return c10::kDouble;
  if (name == "F16") return c10::kHalf;
  if (name == "BF16") return c10::kBFloat16;
  if (name == "I64") return c10::kLong;
  if (name == "I32") return c10::kInt;
  if (name == "I16") return c10::kShort;
  if (name == "I8") return c10::kChar;
  if (name == "U8") return c10::kByte;
  if (name == "BOOL") return c10::kBool;
  return std::nullopt;
}

c10::ScalarType parse_compute_dtype(const std::string& name) {
  auto n = to_lower(name);
  if (n == "f32" || n == "float32" || n == "fp32" || n == "float") return c10::kFloat;
  if (n == "bf16" || n == "bfloat16") return c10::kBFloat16;
  if (n == "f16" || n == "float16" || n == "fp16" || n == "half") return c10::kHalf;
  throw ConfigError("unknown dtype '" + name + "'; use f32, bf16 or f16");
}

}  // namespace bipeft::io
