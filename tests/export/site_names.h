#pragma once
// Site names of the tiny T5 fixtures shared by the export tests.
#include <string>

namespace bipeft::exporter {

inline const std::string kEncQ = "encoder.block.0.layer.0.SelfAttention.q";
inline const std::string kDec0CrossQ = "decoder.block.0.layer.1.EncDecAttention.q";
inline const std::string kDec1CrossQ = "decoder.block.1.layer.1.EncDecAttention.q";

}  // namespace bipeft::exporter
