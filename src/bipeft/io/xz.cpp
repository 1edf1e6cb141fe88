#include "bipeft/io/xz.h"

#include <cstdint>

#include <lzma.h>

#include "bipeft/core/error.h"
#include "bipeft/io/file_util.h"

namespace bipeft::io {

std::string decompress_xz(const std::string& bytes, const std::string& path) {
  lzma_stream s = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
    throw IoError(path + ": cannot start the xz decoder (out of memory?)");
  std::string out;
  char buf[1 << 16];
  s.next_in = reinterpret_cast<const uint8_t*>(bytes.data());
  s.avail_in = bytes.size();
  lzma_ret ret = LZMA_OK;
  while (ret == LZMA_OK) {
    s.next_out = reinterpret_cast<uint8_t*>(buf);
    s.avail_out = sizeof buf;
    ret = lzma_code(&s, LZMA_FINISH);
    out.append(buf, sizeof buf - s.avail_out);
  }
  lzma_end(&s);
  if (ret != LZMA_STREAM_END) {
    const char* why = ret == LZMA_FORMAT_ERROR ? "not an xz file"
                      : ret == LZMA_DATA_ERROR ? "corrupt data"
                      : ret == LZMA_BUF_ERROR  ? "truncated"
                      : ret == LZMA_MEM_ERROR  ? "out of memory"
                                               : "decoder error";
    throw FormatError(path + ": cannot decompress (" + std::string(why) +
                      "); download the file again or give it uncompressed (without .xz)");
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  auto bytes = read_file(path);
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, ".xz") == 0) return decompress_xz(bytes, path);
  return bytes;
}

}  // namespace bipeft::io
