#pragma once
// The central directory of a zip archive (torch.save's pytorch_model.bin), read and checked before
// LibTorch's reader sees the bytes: LibTorch allocates each record's *declared* uncompressed size up
// front, so a corrupt or hostile size would otherwise become a multi-gigabyte allocation.
#include <cstdint>
#include <map>
#include <string>

#include "bipeft/io/byte_buffer.h"

namespace bipeft::io {

/// One file of a zip archive as its central directory describes it.
struct ZipEntry {
  uint16_t method = 0;            // 0 stored, 8 deflate
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
};

/// Parses the central directory (zip64 included). Throws FormatError naming `bytes.label()` when the
/// archive is malformed, names a file twice, or declares a record that lies outside the archive or
/// could not decompress to its declared size (stored: sizes differ; deflate: more than 1032x).
std::map<std::string, ZipEntry> read_zip_directory(const ByteBuffer& bytes);

}  // namespace bipeft::io
