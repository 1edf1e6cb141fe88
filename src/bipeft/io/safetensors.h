#pragma once
// The safetensors format: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the raw data.
// The reader validates everything before touching tensor data: the header fits in the file, every
// offset range lies inside the data section, sizes equal numel x itemsize (no overflow), and ranges
// do not overlap.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "bipeft/io/byte_buffer.h"

namespace bipeft::io {

/// One tensor's header entry.
struct SafetensorsEntry {
  std::string name;
  c10::ScalarType dtype = c10::kFloat;
  std::string dtype_name;       // as written in the file ("F32", ...)
  std::vector<int64_t> shape;
  uint64_t begin = 0;           // byte offsets relative to the start of the data section
  uint64_t end = 0;
};

/// A validated safetensors file (memory-mapped) or buffer.
class SafetensorsReader {
 public:
  /// Opens and validates `path`; throws IoError (unreadable) or FormatError (malformed).
  static SafetensorsReader open(const std::string& path);
  /// Validates in-memory bytes; `bytes->label()` names the source in errors.
  explicit SafetensorsReader(std::shared_ptr<const ByteBuffer> bytes);

  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  /// The entry of `name`; throws FormatError if absent.
  const SafetensorsEntry& entry(const std::string& name) const;
  /// A fresh CPU tensor (stored dtype) with the data of `name`; throws FormatError if absent.
  at::Tensor load(const std::string& name) const;
  /// Every tensor, in file order.
  std::vector<std::pair<std::string, at::Tensor>> load_all() const;
  const std::string& label() const { return bytes_->label(); }

 private:
  std::shared_ptr<const ByteBuffer> bytes_;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

/// Serializes tensors (any device; contiguous copies are made on CPU) to safetensors bytes.
std::string safetensors_bytes(const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

/// Writes tensors to `path` atomically (temp file + rename), streaming data without a full copy.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace bipeft::io
