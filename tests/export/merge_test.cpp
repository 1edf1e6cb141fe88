// Merged export: LoRA and LNFit folded into a full checkpoint give the adapted model's logits; PEFT's own
// merge_and_unload result on the reference fixture is reproduced; unmergeable modules are refused or dropped.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "bipeft/core/error.h"
#include "bipeft/export/adapter_loader.h"
#include "bipeft/export/merge.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/io/safetensors.h"
#include "bipeft/model/t5_weights.h"
#include "test_util.h"

namespace bipeft::exporter {
namespace {

using test::data_path;
using test::max_rel_diff;

const std::string kBitfitO = "encoder.block.1.layer.0.SelfAttention.o";

peft::Structure lora_lnfit_structure() {
  peft::Structure s;
  s.modules = {{"encoder.block.0.layer.0.SelfAttention.q", "lora", 2},
               {"encoder.block.1.layer.1.DenseReluDense.wo", "lora", 4},
               {"decoder.block.0.layer.1.EncDecAttention.v", "lora", 3},
               {"decoder.block.1.layer.2.DenseReluDense.wi", "lora", 4},
               {"encoder.block.0.layer.1.layer_norm", "lnfit", 1},
               {"decoder.block.1.layer.1.layer_norm", "lnfit", 1},
               {"decoder.final_layer_norm", "lnfit", 1}};
  return s;
}

class Merge : public ::testing::Test {
 protected:
  void SetUp() override {
    inputs = std::make_unique<io::SafetensorsReader>(
        io::SafetensorsReader::open(data_path("fixtures/t5-tiny/expected.safetensors")));
  }
  static model::T5Model backbone() { return model::load_t5(data_path("fixtures/t5-tiny")); }
  static peft::PeftModel adapted(model::T5Model bb, const peft::Structure& s, uint64_t seed) {
    peft::PeftModel pm(bb, s, 1);
    torch::NoGradGuard ng;
    auto gen = at::detail::createCPUGenerator(seed);
    for (auto& p : pm->parameters()) p.normal_(0.0, 0.1, gen);
    return pm;
  }
  at::Tensor logits(model::T5ModelImpl& m) const {
    torch::NoGradGuard ng;
    return m.forward(inputs->load("input_ids"), inputs->load("attention_mask"), inputs->load("decoder_input_ids")).logits;
  }
  std::unique_ptr<io::SafetensorsReader> inputs;
};

TEST_F(Merge, MergedLoraAndLnfitGiveTheAdaptedLogits) {
  auto bb = backbone();
  const auto base = logits(*bb);
  auto pm = adapted(bb, lora_lnfit_structure(), 13);
  const auto want = logits(*bb);
  ASSERT_GT(max_rel_diff(want, base), 1e-3) << "the adapter should change the output";
  auto r = merge_adapter(*pm);
  EXPECT_EQ(r.merged_ids.size(), pm->modules.size());
  EXPECT_TRUE(r.unmergeable.empty());
  EXPECT_LE(max_rel_diff(logits(*r.merged), want), 1e-5);
  EXPECT_TRUE(logits(*bb).equal(want)) << "merging must not change the adapter's own backbone";

  test::TempDir out;
  auto report = export_merged(*pm, out.str());
  EXPECT_EQ(report["export_format"], "merged");
  EXPECT_EQ(report["merged"].size(), pm->modules.size());
  auto reloaded = model::load_t5(out.str());
  EXPECT_LE(max_rel_diff(logits(*reloaded), want), 1e-5);
}

TEST_F(Merge, FixtureMergedLogitsOfPeftMergeAndUnloadAreReproduced) {
  const auto dir = data_path("fixtures/peft-lora-t5-tiny");
  auto expected = io::SafetensorsReader::open(dir + "/expected.safetensors");
  auto bb = backbone();
  auto pm = load_adapter(bb, dir);
  auto r = merge_adapter(*pm);
  EXPECT_EQ(r.merged_ids.size(), 12u);
  torch::NoGradGuard ng;
  auto got = r.merged->forward(expected.load("input_ids"), expected.load("attention_mask"),
                               expected.load("decoder_input_ids")).logits;
  EXPECT_LE(max_rel_diff(got, expected.load("merged_logits")), 1e-5);
}

TEST_F(Merge, BitFitIsRefusedWithTheModuleNamedAndNothingWritten) {
  auto bb = backbone();
  auto s = lora_lnfit_structure();
  s.modules.push_back({kBitfitO, "bitfit", 1});
  s.modules.push_back({"decoder.final_layer_norm", "bitfit", 1});
  auto pm = adapted(bb, s, 2);
  test::TempDir out;
  try {
    export_merged(*pm, out.str());
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("2 module(s) cannot be merged"), std::string::npos) << msg;
    EXPECT_NE(msg.find(kBitfitO + ":bitfit"), std::string::npos) << msg;
    EXPECT_NE(msg.find("decoder.final_layer_norm:bitfit"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MergedExportOptions.drop_unmergeable"), std::string::npos) << msg;
  }
  EXPECT_TRUE(std::filesystem::is_empty(out.str()));
}

TEST_F(Merge, DroppingUnmergeableModulesMergesTheRestAndReportsTheDropped) {
  auto bb = backbone();
  auto s = lora_lnfit_structure();
  s.modules.push_back({kBitfitO, "bitfit", 1});
  s.modules.push_back({"encoder.block.1.layer.1.DenseReluDense", "parallel_adapter", 2});
  auto pm = adapted(bb, s, 2);
  for (auto& m : pm->modules)
    if (m->method() != "lora" && m->method() != "lnfit") m->set_gate(peft::Gate::fixed(0));
  const auto want = logits(*bb);
  MergedExportOptions o;
  o.drop_unmergeable = true;
  test::TempDir out;
  auto report = export_merged(*pm, out.str(), o);
  EXPECT_EQ(report["dropped"], nlohmann::json({kBitfitO + ":bitfit",
                                               "encoder.block.1.layer.1.DenseReluDense:parallel_adapter"}));
  EXPECT_EQ(io::read_json_file(out / "bipeft_export.json"), report);
  EXPECT_LE(max_rel_diff(logits(*model::load_t5(out.str())), want), 1e-5);
}

TEST_F(Merge, FullFinetuneMergesAsItsBackboneWeights) {
  auto bb = backbone();
  auto s = lora_lnfit_structure();
  s.full_finetune = true;
  auto pm = adapted(bb, s, 6);
  {
    torch::NoGradGuard ng;
    bb->named_parameters()["encoder.block.0.layer.0.SelfAttention.k.weight"].mul_(1.5);
  }
  const auto want = logits(*bb);
  auto r = merge_adapter(*pm);
  EXPECT_LE(max_rel_diff(logits(*r.merged), want), 1e-5);
}

TEST_F(Merge, TokenizerFilesAreCopiedFromTheModelFolder) {
  test::TempDir model_dir, out;
  for (const char* f : {"config.json", "model.safetensors"})
    std::filesystem::copy_file(data_path(std::string("fixtures/t5-tiny/") + f), model_dir / f);
  std::ofstream(model_dir / "spiece.model") << "not really a sentencepiece model";
  auto bb = model::load_t5(model_dir.str());
  auto pm = adapted(bb, lora_lnfit_structure(), 1);
  MergedExportOptions o;
  o.model_dir = model_dir.str();
  auto report = export_merged(*pm, out.str(), o);
  EXPECT_EQ(io::read_file(out / "spiece.model"), io::read_file(model_dir / "spiece.model"));
  EXPECT_EQ(report["copied_files"], nlohmann::json({"spiece.model"}));
  EXPECT_TRUE(io::is_file(out / "config.json"));
}

}  // namespace
}  // namespace bipeft::exporter
