// Safetensors header + data: SafetensorsReader over in-memory bytes, every tensor loaded. An accepted
// file must also survive a round trip through the writer with the same names, dtypes, shapes and bytes.
#include <cstring>

#include <ATen/ATen.h>

#include "bipeft/io/byte_buffer.h"
#include "bipeft/io/safetensors.h"
#include "fuzz_common.h"

using namespace bipeft;

namespace {

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto n = static_cast<size_t>(a.numel()) * a.element_size();
  return n == 0 || std::memcmp(a.data_ptr(), b.data_ptr(), n) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_torch();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_project_errors([&] {
    io::SafetensorsReader reader(io::buffer_from_string(fuzz::as_string(data, size), "fuzz.safetensors"));
    const auto tensors = reader.load_all();
    fuzz::require(tensors.size() == reader.entries().size(), "load_all returns every entry");
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& e = reader.entries()[i];
      fuzz::require(tensors[i].first == e.name, "load_all keeps the entry order");
      fuzz::require(tensors[i].second.sizes().vec() == e.shape, "loaded shape equals the header shape");
      fuzz::require(tensors[i].second.scalar_type() == e.dtype, "loaded dtype equals the header dtype");
    }
    io::SafetensorsReader again(io::buffer_from_string(io::safetensors_bytes(tensors, reader.metadata()), "again"));
    fuzz::require(again.metadata() == reader.metadata(), "metadata survives a round trip");
    // The writer packs the data, so empty tensors may change places among equal offsets: compare by name.
    fuzz::require(again.entries().size() == tensors.size(), "round trip keeps every tensor");
    for (const auto& [name, t] : tensors)
      fuzz::require(again.contains(name) && same_bytes(again.load(name), t), "round trip keeps names and bytes");
  });
  return 0;
}
