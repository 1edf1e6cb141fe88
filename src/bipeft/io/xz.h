#pragma once
// XZ (LZMA2) decompression for datasets distributed compressed (IMDB as train.tsv.xz): the readers
// accept `name.xz` wherever they accept `name`.
#include <string>

namespace bipeft::io {

/// The decompressed content of the .xz stream `bytes`; FormatError naming `path` when it is not a
/// valid .xz file (truncated, corrupt, or another format).
std::string decompress_xz(const std::string& bytes, const std::string& path);

/// The content of `path`, decompressed when its name ends in ".xz"; IoError when it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace bipeft::io
