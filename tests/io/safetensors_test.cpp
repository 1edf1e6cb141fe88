#include "bipeft/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "bipeft/core/error.h"
#include "bipeft/io/byte_buffer.h"
#include "test_util.h"

namespace bipeft::io {
namespace {

std::string with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json + data;
}

SafetensorsReader reader_of(std::string bytes) { return SafetensorsReader(buffer_from_string(std::move(bytes), "x.safetensors")); }

TEST(Safetensors, RoundTripKeepsNamesDtypesShapesAndBytes) {
  NamedTensors ts{{"a", at::arange(12, at::kFloat).reshape({3, 4})},
                  {"b", at::tensor({1, 2, 3}, at::kLong)},
                  {"c", at::randn({2, 2}).to(at::kBFloat16)},
                  {"empty", at::zeros({0, 5})}};
  auto r = reader_of(safetensors_bytes(ts));
  ASSERT_EQ(r.entries().size(), 4u);
  for (const auto& [n, t] : ts) {
    auto back = r.load(n);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << n;
    EXPECT_TRUE(back.equal(t)) << n;
  }
  EXPECT_EQ(r.metadata().at("format"), "pt");
}

TEST(Safetensors, SavedFileReloadsFromDisk) {
  test::TempDir tmp;
  save_safetensors(tmp / "m.safetensors", {{"w", at::ones({2, 3})}});
  EXPECT_TRUE(SafetensorsReader::open(tmp / "m.safetensors").load("w").equal(at::ones({2, 3})));
}

TEST(Safetensors, TruncatedFileIsRejected) {
  EXPECT_THROW_WITH(reader_of("abc"), FormatError, "truncated");
}

TEST(Safetensors, HeaderLengthPastTheEndIsRejected) {
  std::string b(8, '\0');
  uint64_t n = 1000;
  std::memcpy(b.data(), &n, 8);
  EXPECT_THROW_WITH(reader_of(b + "{}"), FormatError, "runs past the end of the file");
}

TEST(Safetensors, HugeHeaderLengthIsRejectedBeforeAllocating) {
  std::string b(8, '\xff');
  EXPECT_THROW_WITH(reader_of(b + "{}"), FormatError, "header length");
}

TEST(Safetensors, NonJsonHeaderIsRejected) {
  EXPECT_THROW_WITH(reader_of(with_header("{not json", "")), FormatError, "not valid JSON");
}

TEST(Safetensors, OffsetsPastTheDataAreRejected) {
  auto b = with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(4, '\0'));
  EXPECT_THROW_WITH(reader_of(b), FormatError, "truncated");
}

TEST(Safetensors, OverlappingOffsetsAreRejected) {
  auto b = with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       std::string(12, '\0'));
  EXPECT_THROW_WITH(reader_of(b), FormatError, "overlapping");
}

TEST(Safetensors, SizeNotMatchingDtypeAndShapeIsRejected) {
  auto b = with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'));
  EXPECT_THROW_WITH(reader_of(b), FormatError, "needs 12 bytes");
}

TEST(Safetensors, ShapeWhoseProductOverflowsIsRejected) {
  auto b = with_header(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
                       std::string(8, '\0'));
  EXPECT_THROW_WITH(reader_of(b), FormatError, "overflows");
}

TEST(Safetensors, UnknownDtypeIsRejected) {
  auto b = with_header(R"({"w":{"dtype":"F8_E4M3X","shape":[1],"data_offsets":[0,1]}})", std::string(1, '\0'));
  EXPECT_THROW_WITH(reader_of(b), FormatError, "unsupported dtype");
}

TEST(Safetensors, NegativeOffsetIsRejected) {
  auto b = with_header(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", std::string(4, '\0'));
  EXPECT_THROW_WITH(reader_of(b), FormatError, "non-negative");
}

TEST(Safetensors, EmptyTensorWhoseOtherDimensionsOverflowIsRejected) {
  // numel is 0 and the byte count matches, but LibTorch derives the contiguous strides from the other
  // dimensions (2^62 * 4 overflows) and at::empty throws c10::Error instead of a FormatError.
  auto b = with_header(R"({"w":{"dtype":"F32","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}})", "");
  EXPECT_THROW_WITH(reader_of(b), FormatError, "overflows");
  auto ok = with_header(R"({"w":{"dtype":"F32","shape":[0,1099511627776,4],"data_offsets":[0,0]}})", "");
  EXPECT_EQ(reader_of(ok).load("w").sizes(), (std::vector<int64_t>{0, int64_t{1} << 40, 4}));
}

TEST(Safetensors, OverlapBehindAnEmptyTensorIsRejected) {
  // a = [0, 8), e = [4, 4) (empty), b = [4, 8): b overlaps a though its sorted neighbour is e.
  auto b = with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       std::string(8, '\0'));
  EXPECT_THROW_WITH(reader_of(b), FormatError, "'a' and 'b' have overlapping data_offsets");
}

TEST(Safetensors, BoolBytesOtherThanZeroOrOneAreRejectedOnLoad) {
  auto good = with_header(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string("\x01\x00", 2));
  EXPECT_TRUE(reader_of(good).load("m").equal(at::tensor({1, 0}, at::kByte).to(at::kBool)));
  auto bad = with_header(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", "\x01\x07");
  EXPECT_THROW_WITH(reader_of(bad).load("m"), FormatError, "BOOL byte 1 is 7, not 0 or 1");
}

TEST(Safetensors, NumberTooLargeForADoubleIsAFormatError) {
  // nlohmann::json reports it as out_of_range, not parse_error; it used to escape as a json exception.
  auto b = with_header(R"({"w":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}})", std::string(4, '\0'));
  EXPECT_THROW_WITH(reader_of(b), FormatError, "header is not valid JSON");
}

TEST(Safetensors, MissingFileIsAnIoError) {
  EXPECT_THROW_WITH(SafetensorsReader::open("/nonexistent/x.safetensors"), IoError, "/nonexistent/x.safetensors");
}

}  // namespace
}  // namespace bipeft::io
