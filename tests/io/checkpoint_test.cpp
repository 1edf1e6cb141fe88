#include "bipeft/io/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "bipeft/core/error.h"
#include "bipeft/io/byte_buffer.h"
#include "bipeft/io/file_util.h"
#include "test_util.h"

namespace bipeft::io {
namespace {

TEST(Checkpoint, TorchZipViewsAndSharedStoragesAreMaterialized) {
  auto src = open_torch_bin_source(test::data_path("fixtures/torch-bin/pytorch_model.bin"));
  auto ref = open_checkpoint(test::data_path("fixtures/t5-tiny"));
  EXPECT_TRUE(src->load("encoder.final_layer_norm.weight").equal(ref->load("encoder.final_layer_norm.weight")));
  EXPECT_TRUE(src->load("decoder.final_layer_norm.weight").equal(ref->load("decoder.final_layer_norm.weight")));
  EXPECT_TRUE(src->load("encoder.embed_tokens.weight").equal(ref->load("shared.weight")));
}

TEST(Checkpoint, EmptyFolderNamesTheFilesItLookedFor) {
  test::TempDir tmp;
  EXPECT_THROW_WITH(open_checkpoint(tmp.str()), IoError, "model.safetensors");
}

TEST(Checkpoint, CorruptBinIsAFormatError) {
  test::TempDir tmp;
  std::ofstream(tmp / "pytorch_model.bin") << "garbage that is not a pickle";
  EXPECT_THROW_WITH(open_checkpoint(tmp.str()), FormatError, "pytorch_model.bin");
}

TEST(Checkpoint, TruncatedZipIsAFormatError) {
  test::TempDir tmp;
  auto bytes = read_file(test::data_path("fixtures/torch-bin/pytorch_model.bin"));
  write_file_atomic(tmp / "pytorch_model.bin", bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(open_checkpoint(tmp.str()), FormatError);
}

TEST(Checkpoint, PickleWithForeignGlobalIsRefusedWithoutRunningIt) {
  test::TempDir tmp;
  // protocol 2: GLOBAL os.system, then call it with ("true",): must never run.
  std::string evil = std::string("\x80\x02") + "cos\nsystem\nq\x00X\x04\x00\x00\x00true\x85R.";
  std::string magic = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
  write_file_atomic(tmp / "pytorch_model.bin", magic + "K\x01." + "}." + evil);
  EXPECT_THROW_WITH(open_checkpoint(tmp.str()), FormatError, "refusing to load global 'os.system'");
}

TEST(Checkpoint, ShardIndexPointingToMissingFileIsAnIoError) {
  test::TempDir tmp;
  std::ofstream(tmp / "model.safetensors.index.json") << R"({"weight_map": {"a": "model-1.safetensors"}})";
  EXPECT_THROW_WITH(open_checkpoint(tmp.str()), IoError, "model-1.safetensors");
}

TEST(Checkpoint, ShardIndexWithoutWeightMapIsAFormatError) {
  test::TempDir tmp;
  std::ofstream(tmp / "model.safetensors.index.json") << R"({"metadata": {}})";
  EXPECT_THROW_WITH(open_checkpoint(tmp.str()), FormatError, "weight_map");
}

// --- hand-made legacy torch.save files (hardening) -------------------------------------------------

namespace legacy {

std::string le(uint64_t v, int bytes) {
  std::string s;
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}
std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string integer(int64_t v) { return "\x8a\x08" + le(static_cast<uint64_t>(v), 8); }
std::string tuple(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (int64_t x : v) s += integer(x);
  return s + "t";
}

struct Tensor {
  std::string storage_class = "FloatStorage";
  int64_t storage_numel = 1;
  std::string raw = std::string(4, '\0');
  std::vector<int64_t> size = {1}, stride = {1};
};

/// A pre-1.6 torch.save file holding {"w": t}, its storage under key "0".
std::string file(const Tensor& t) {
  const std::string magic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  const std::string storage = "(" + str("storage") + "ctorch\n" + t.storage_class + "\n" + str("0") + str("cpu") +
                              integer(t.storage_numel) + "tQ";
  const std::string tensor = "ctorch._utils\n_rebuild_tensor_v2\n(" + storage + integer(0) + tuple(t.size) +
                             tuple(t.stride) + "\x89}tR";
  return magic + "\x80\x02M\xe9\x03." + "\x80\x02}." + "\x80\x02}" + str("w") + tensor + "s." + "\x80\x02]" +
         str("0") + "a." + le(static_cast<uint64_t>(t.storage_numel), 8) + t.raw;
}

at::Tensor load(const Tensor& t) { return open_torch_bin_source(buffer_from_string(file(t), "x.bin"))->load("w"); }

}  // namespace legacy

TEST(Checkpoint, HandMadeLegacyFileLoads) {
  legacy::Tensor t;
  t.storage_numel = 3;
  t.raw = std::string("\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40", 12);  // 1, 2, 3
  t.size = {3};
  EXPECT_TRUE(legacy::load(t).equal(at::tensor({1.0f, 2.0f, 3.0f})));
}

TEST(Checkpoint, ViewWithMoreElementsThanItsStorageIsRefusedBeforeCopying) {
  // One float seen through stride 0 as 2^40 elements: the contiguous copy would need 4 TB.
  legacy::Tensor t;
  t.size = {int64_t{1} << 40};
  t.stride = {0};
  EXPECT_THROW_WITH(legacy::load(t), FormatError, "larger than its storage");
}

TEST(Checkpoint, EmptyViewWhoseOtherSizesOverflowIsAFormatError) {
  // numel is 0, but LibTorch computes contiguous strides from the other sizes and would throw c10::Error.
  legacy::Tensor t;
  t.size = {0, int64_t{1} << 62, 4};
  t.stride = {0, 0, 0};
  EXPECT_THROW_WITH(legacy::load(t), FormatError, "tensor size overflows");
}

TEST(Checkpoint, BoolStorageBytesMustBeZeroOrOne) {
  legacy::Tensor t;
  t.storage_class = "BoolStorage";
  t.storage_numel = 2;
  t.size = {2};
  t.raw = std::string("\x01\x00", 2);
  EXPECT_TRUE(legacy::load(t).equal(at::tensor({1, 0}, at::kByte).to(at::kBool)));
  t.raw = "\x01\x02";
  EXPECT_THROW_WITH(legacy::load(t), FormatError, "byte other than 0 or 1");
}

TEST(Checkpoint, TorchBinFromBytesEqualsTorchBinFromFile) {
  const std::string path = test::data_path("fixtures/torch-bin/pytorch_model.bin");
  auto from_file = open_torch_bin_source(path);
  auto from_bytes = open_torch_bin_source(buffer_from_string(read_file(path), "mem.bin"));
  EXPECT_EQ(from_bytes->names(), from_file->names());
  EXPECT_TRUE(from_bytes->load("shared.weight").equal(from_file->load("shared.weight")));
  EXPECT_EQ(from_bytes->file_of("shared.weight"), "mem.bin");
}

}  // namespace
}  // namespace bipeft::io
