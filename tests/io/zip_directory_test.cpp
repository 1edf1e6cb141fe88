// The zip central-directory check that runs before LibTorch's reader allocates any record.
#include "bipeft/io/zip_directory.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bipeft/core/error.h"
#include "bipeft/io/byte_buffer.h"
#include "bipeft/io/checkpoint.h"
#include "bipeft/io/file_util.h"
#include "test_util.h"

namespace bipeft::io {
namespace {

void put(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

struct ZipFile {
  std::string name, data;
  uint16_t method = 0;
  uint64_t declared_size = UINT64_MAX;  // uncompressed size written in the directory (default: data size)
};

/// A minimal archive: local headers + data, central directory, end record. `zip64` stores the sizes
/// and offsets as 0xffffffff with a zip64 extra field and adds the zip64 end records.
std::string make_zip(const std::vector<ZipFile>& files, bool zip64 = false) {
  std::string out, dir;
  for (const auto& f : files) {
    const uint64_t offset = out.size();
    const uint64_t usize = f.declared_size == UINT64_MAX ? f.data.size() : f.declared_size;
    put(out, 0x04034b50, 4);
    put(out, 20, 2);
    put(out, 0, 2);
    put(out, f.method, 2);
    put(out, 0, 4);  // time, date
    put(out, 0, 4);  // crc (not checked here)
    put(out, f.data.size(), 4);
    put(out, usize, 4);
    put(out, f.name.size(), 2);
    put(out, 0, 2);
    out += f.name + f.data;
    std::string extra;
    if (zip64) {
      put(extra, 0x0001, 2);
      put(extra, 24, 2);
      put(extra, usize, 8);
      put(extra, f.data.size(), 8);
      put(extra, offset, 8);
    }
    put(dir, 0x02014b50, 4);
    put(dir, 45, 2);
    put(dir, 45, 2);
    put(dir, 0, 2);
    put(dir, f.method, 2);
    put(dir, 0, 4);
    put(dir, 0, 4);
    put(dir, zip64 ? 0xffffffffu : f.data.size(), 4);
    put(dir, zip64 ? 0xffffffffu : usize, 4);
    put(dir, f.name.size(), 2);
    put(dir, extra.size(), 2);
    put(dir, 0, 2);   // comment
    put(dir, 0, 2);   // disk
    put(dir, 0, 2);   // internal attributes
    put(dir, 0, 4);   // external attributes
    put(dir, zip64 ? 0xffffffffu : offset, 4);
    dir += f.name + extra;
  }
  const uint64_t dir_offset = out.size();
  out += dir;
  if (zip64) {
    const uint64_t eocd64 = out.size();
    put(out, 0x06064b50, 4);
    put(out, 44, 8);
    put(out, 45, 2);
    put(out, 45, 2);
    put(out, 0, 4);
    put(out, 0, 4);
    put(out, files.size(), 8);
    put(out, files.size(), 8);
    put(out, dir.size(), 8);
    put(out, dir_offset, 8);
    put(out, 0x07064b50, 4);
    put(out, 0, 4);
    put(out, eocd64, 8);
    put(out, 1, 4);
  }
  put(out, 0x06054b50, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, zip64 ? 0xffff : files.size(), 2);
  put(out, zip64 ? 0xffff : files.size(), 2);
  put(out, zip64 ? 0xffffffffu : dir.size(), 4);
  put(out, zip64 ? 0xffffffffu : dir_offset, 4);
  put(out, 0, 2);
  return out;
}

std::map<std::string, ZipEntry> directory(const std::string& bytes) {
  return read_zip_directory(*buffer_from_string(bytes, "m.bin"));
}

TEST(ZipDirectory, ReadsTheTorchFixtureArchive) {
  auto entries = read_zip_directory(*map_file(test::data_path("fixtures/torch-bin/pytorch_model.bin")));
  ASSERT_EQ(entries.count("archive/data.pkl"), 1u);
  EXPECT_EQ(entries.at("archive/data.pkl").method, 0);
  EXPECT_EQ(entries.at("archive/version").uncompressed_size, 2u);
}

TEST(ZipDirectory, ReadsStoredAndZip64Entries) {
  const std::vector<ZipFile> files = {{"a/data.pkl", "xyz"}, {"a/version", "3\n"}};
  for (bool zip64 : {false, true}) {
    auto entries = directory(make_zip(files, zip64));
    ASSERT_EQ(entries.size(), 2u) << zip64;
    EXPECT_EQ(entries.at("a/data.pkl").uncompressed_size, 3u) << zip64;
    EXPECT_EQ(entries.at("a/version").local_header_offset, 30u + 10 + 3) << zip64;
  }
}

TEST(ZipDirectory, DeflateRecordClaimingMoreThanDeflateCanProduceIsRejected) {
  // 4 GB "from" 10 bytes: LibTorch would allocate the declared size before inflating anything.
  ZipFile bomb{"archive/data.pkl", std::string(10, 'x'), 8, 4000000000u};
  EXPECT_THROW_WITH(directory(make_zip({bomb})), FormatError, "declares 4000000000 bytes from 10 compressed bytes");
  bomb.declared_size = 1ull << 40;  // only a zip64 archive can say 1 TiB
  EXPECT_THROW_WITH(directory(make_zip({bomb}, /*zip64=*/true)), FormatError, "declares 1099511627776 bytes");
  bomb.declared_size = 10 * 1000;  // plausible ratio
  EXPECT_NO_THROW(directory(make_zip({bomb})));
}

TEST(ZipDirectory, StoredRecordWithDifferentSizesIsRejected) {
  EXPECT_THROW_WITH(directory(make_zip({{"a/x", "abc", 0, 1u << 30}})), FormatError, "is stored but its sizes differ");
}

TEST(ZipDirectory, RecordsOutsideTheFileDuplicatesAndGarbageAreRejected) {
  std::string z = make_zip({{"a/x", "abc"}});
  // Compressed size in the central directory (offset 20 of its first entry) made larger than the file.
  const size_t central = z.find("PK\x01\x02");
  z[central + 20] = '\x7f';
  z[central + 24] = '\x7f';
  EXPECT_THROW_WITH(directory(z), FormatError, "lies outside the file");
  EXPECT_THROW_WITH(directory(make_zip({{"a/x", "1"}, {"a/x", "2"}})), FormatError, "appears twice");
  EXPECT_THROW_WITH(directory("PK\x03\x04 is not a zip archive at all"), FormatError, "no end-of-central-directory record");
  EXPECT_THROW_WITH(directory(make_zip({{"a/x", "abc"}}).substr(0, 60)), FormatError, "corrupt zip archive");
}

TEST(ZipDirectory, TorchBinSourceChecksTheDirectoryBeforeLibTorchReadsIt) {
  ZipFile bomb{"archive/data.pkl", std::string(16, 'x'), 8, 4000000000u};
  EXPECT_THROW_WITH(open_torch_bin_source(buffer_from_string(make_zip({bomb, {"archive/version", "3\n"}}), "m.bin")),
                    FormatError, "m.bin: corrupt zip archive");
}

TEST(ZipDirectory, DeflatedTorchArchiveStillLoads) {
  // Written by Python's zipfile with ZIP_DEFLATED (fuzz/make_corpus.py): five small tensors.
  auto src = open_torch_bin_source(test::source_path("fuzz/corpus/pickle/torch_zip_deflated.bin"));
  EXPECT_TRUE(src->load("encoder.bias").equal(at::tensor({5.0f, 6.0f})));
  EXPECT_TRUE(src->load("decoder.weight_t").equal(at::tensor({1.0f, 3.0f, 2.0f, 4.0f}).reshape({2, 2})));
}

}  // namespace
}  // namespace bipeft::io
