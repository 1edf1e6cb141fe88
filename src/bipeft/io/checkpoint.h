#pragma once
// Named tensors of a model checkpoint, whatever the file layout: model.safetensors, sharded
// *.safetensors with model.safetensors.index.json, pytorch_model.bin (torch zip archive or the legacy
// pre-1.6 format), or sharded .bin with pytorch_model.bin.index.json.
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "bipeft/io/byte_buffer.h"

namespace bipeft::io {

/// Read access to the tensors of one checkpoint.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  /// All tensor names, sorted.
  virtual std::vector<std::string> names() const = 0;
  virtual bool contains(const std::string& name) const = 0;
  virtual std::vector<int64_t> shape(const std::string& name) const = 0;
  virtual c10::ScalarType dtype(const std::string& name) const = 0;
  /// A fresh CPU tensor in its stored dtype; throws FormatError if the data is bad.
  virtual at::Tensor load(const std::string& name) const = 0;
  /// The file holding `name`, for messages.
  virtual std::string file_of(const std::string& name) const = 0;
};

/// Opens one safetensors file.
std::unique_ptr<TensorSource> open_safetensors_source(const std::string& path);
/// Opens one pytorch_model.bin (zip archive or legacy format) without executing any code.
std::unique_ptr<TensorSource> open_torch_bin_source(const std::string& path);
/// The same for bytes already in memory (tests, fuzzers); `bytes->label()` names the source in errors.
std::unique_ptr<TensorSource> open_torch_bin_source(std::shared_ptr<const ByteBuffer> bytes);
/// Opens a sharded checkpoint through its *.index.json weight map.
std::unique_ptr<TensorSource> open_sharded_source(const std::string& index_path);

/// Finds and opens the weights in a model folder, preferring safetensors. Throws IoError listing the
/// file names it looked for when none exists.
std::unique_ptr<TensorSource> open_checkpoint(const std::string& dir);

}  // namespace bipeft::io
