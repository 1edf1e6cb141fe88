#pragma once
// Read-only bytes of a file (memory-mapped) or of an in-memory string, behind one interface, so
// readers work the same on disk and in tests/fuzzers.
#include <cstddef>
#include <memory>
#include <string>

namespace bipeft::io {

/// Immutable bytes with a label (the file path) used in error messages.
class ByteBuffer {
 public:
  virtual ~ByteBuffer() = default;
  virtual const char* data() const = 0;
  virtual size_t size() const = 0;
  virtual const std::string& label() const = 0;
};

/// Maps `path` read-only; throws IoError naming the path if it cannot be opened.
std::shared_ptr<const ByteBuffer> map_file(const std::string& path);

/// Wraps a string (copied/moved in) with a label.
std::shared_ptr<const ByteBuffer> buffer_from_string(std::string bytes, std::string label);

}  // namespace bipeft::io
