#include "bipeft/io/zip_directory.h"

#include <algorithm>

#include "bipeft/core/error.h"

namespace bipeft::io {

namespace {

constexpr uint32_t kEocdSignature = 0x06054b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kZip64EocdSignature = 0x06064b50;
constexpr uint32_t kCentralSignature = 0x02014b50;
constexpr uint64_t kEocdSize = 22, kZip64LocatorSize = 20, kZip64EocdSize = 56, kCentralSize = 46;
constexpr uint64_t kLocalHeaderSize = 30;
// Deflate cannot expand a block by more than 1032:1 (258-byte matches coded in 2 bits).
constexpr uint64_t kMaxDeflateRatio = 1032;

/// Little-endian reads with bounds checks; every failure is a FormatError naming the archive.
class Reader {
 public:
  explicit Reader(const ByteBuffer& b) : b_(b) {}
  uint64_t size() const { return b_.size(); }
  uint64_t le(uint64_t at, int bytes) const {
    if (at > size() || static_cast<uint64_t>(bytes) > size() - at) fail("a header runs past the end of the file");
    uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(b_.data()[at + k]);
    return v;
  }
  std::string str(uint64_t at, uint64_t len) const {
    if (at > size() || len > size() - at) fail("a file name runs past the end of the file");
    return std::string(b_.data() + at, len);
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(b_.label() + ": corrupt zip archive (" + what + "); re-download or re-save the checkpoint");
  }

 private:
  const ByteBuffer& b_;
};

/// Offset of the end-of-central-directory record: the last signature in the final 64 KiB + 22 bytes,
/// the same choice LibTorch's miniz makes (so both read the same directory).
uint64_t find_eocd(const Reader& r) {
  if (r.size() < kEocdSize) r.fail("too short for a zip archive");
  const uint64_t lowest = r.size() >= kEocdSize + 0xffff ? r.size() - kEocdSize - 0xffff : 0;
  for (uint64_t at = r.size() - kEocdSize + 1; at-- > lowest;)
    if (r.le(at, 4) == kEocdSignature) return at;
  r.fail("no end-of-central-directory record");
}

}  // namespace

std::map<std::string, ZipEntry> read_zip_directory(const ByteBuffer& bytes) {
  const Reader r(bytes);
  const uint64_t eocd = find_eocd(r);
  uint64_t count = r.le(eocd + 10, 2);
  uint64_t dir_size = r.le(eocd + 12, 4);
  uint64_t dir_offset = r.le(eocd + 16, 4);
  if (eocd >= kZip64LocatorSize + kZip64EocdSize && r.le(eocd - kZip64LocatorSize, 4) == kZip64LocatorSignature) {
    const uint64_t at = r.le(eocd - kZip64LocatorSize + 8, 8);
    if (at > r.size() || r.size() - at < kZip64EocdSize || r.le(at, 4) != kZip64EocdSignature)
      r.fail("bad zip64 end-of-central-directory record");
    count = r.le(at + 32, 8);
    dir_size = r.le(at + 40, 8);
    dir_offset = r.le(at + 48, 8);
  }
  if (dir_offset > r.size() || dir_size > r.size() - dir_offset) r.fail("central directory outside the file");
  if (count > dir_size / kCentralSize) r.fail("more entries than the central directory can hold");

  std::map<std::string, ZipEntry> out;
  uint64_t at = dir_offset;
  const uint64_t dir_end = dir_offset + dir_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (dir_end - at < kCentralSize || r.le(at, 4) != kCentralSignature) r.fail("bad central directory entry");
    ZipEntry e;
    e.method = static_cast<uint16_t>(r.le(at + 10, 2));
    e.compressed_size = r.le(at + 20, 4);
    e.uncompressed_size = r.le(at + 24, 4);
    e.local_header_offset = r.le(at + 42, 4);
    const uint64_t name_len = r.le(at + 28, 2), extra_len = r.le(at + 30, 2), comment_len = r.le(at + 32, 2);
    if (dir_end - at - kCentralSize < name_len + extra_len + comment_len) r.fail("entry runs past the directory");
    std::string name = r.str(at + kCentralSize, name_len);
    // Zip64 extended information: 8-byte values for the fields stored as 0xffffffff, in this order.
    uint64_t x = at + kCentralSize + name_len;
    const uint64_t extra_end = x + extra_len;
    while (extra_end - x >= 4) {
      const uint64_t id = r.le(x, 2), len = r.le(x + 2, 2);
      if (len > extra_end - x - 4) r.fail("extra field runs past its entry");
      if (id == 0x0001) {
        uint64_t f = x + 4;
        const uint64_t f_end = f + len;
        for (uint64_t* field : {&e.uncompressed_size, &e.compressed_size, &e.local_header_offset}) {
          if (*field != 0xffffffffu) continue;
          if (f_end - f < 8) r.fail("short zip64 extra field");
          *field = r.le(f, 8);
          f += 8;
        }
        break;
      }
      x += 4 + len;
    }
    at += kCentralSize + name_len + extra_len + comment_len;

    const std::string where = "entry '" + name + "'";
    if (e.local_header_offset > r.size() || r.size() - e.local_header_offset < kLocalHeaderSize ||
        e.compressed_size > r.size() - e.local_header_offset - kLocalHeaderSize)
      r.fail(where + " lies outside the file");
    if (e.method == 0 && e.uncompressed_size != e.compressed_size)
      r.fail(where + " is stored but its sizes differ");
    if (e.method != 0 && e.uncompressed_size / kMaxDeflateRatio > e.compressed_size)
      r.fail(where + " declares " + std::to_string(e.uncompressed_size) + " bytes from " +
             std::to_string(e.compressed_size) + " compressed bytes");
    if (!out.emplace(std::move(name), e).second) r.fail(where + " appears twice");
  }
  return out;
}

}  // namespace bipeft::io
