#include "bipeft/io/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "bipeft/core/error.h"
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

}  // namespace
}  // namespace bipeft::io
