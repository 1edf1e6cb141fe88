// pytorch_model.bin: the restricted pickle interpreter on raw bytes (read_pickle + state_dict_entries),
// then the same bytes as a whole torch .bin (zip archive when they start with "PK\3\4", else the
// pre-1.6 format) with every tensor loaded.
#include <ATen/ATen.h>

#include "bipeft/io/byte_buffer.h"
#include "bipeft/io/checkpoint.h"
#include "bipeft/io/pickle_reader.h"
#include "fuzz_common.h"

using namespace bipeft;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_torch();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  fuzz::expect_project_errors([&] {
    size_t pos = 0;
    auto root = io::read_pickle(bytes, size, pos, "fuzz.pkl");
    fuzz::require(pos <= size, "read_pickle stays inside its input");
    for (const auto& [name, t] : io::state_dict_entries(root, "fuzz.pkl"))
      fuzz::require(t.size.size() == t.stride.size() && t.offset >= 0, "tensor geometry is consistent");
  });
  fuzz::expect_project_errors([&] {
    auto source = io::open_torch_bin_source(io::buffer_from_string(fuzz::as_string(data, size), "fuzz.bin"));
    for (const auto& name : source->names()) {
      const at::Tensor t = source->load(name);
      fuzz::require(t.sizes().vec() == source->shape(name), "loaded shape equals the declared shape");
      fuzz::require(t.scalar_type() == source->dtype(name), "loaded dtype equals the declared dtype");
      fuzz::require(t.is_contiguous(), "loaded tensors are contiguous");
    }
  });
  return 0;
}
