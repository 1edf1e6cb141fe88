// `bipeft export` and `bipeft logits --adapter` through the built binary: files written, exit codes, stderr.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "bipeft/io/safetensors.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/peft/adapter_io.h"
#include "cli/cli_util.h"

namespace bipeft {
namespace {

using test::run_cli;
using test::slurp;

const std::string kModel = test::data_path("fixtures/t5-tiny");
const std::string kPeft = test::data_path("fixtures/peft-lora-t5-tiny");
const std::string kInputs = kPeft + "/expected.safetensors";

at::Tensor expected(const std::string& name) { return io::SafetensorsReader::open(kInputs).load(name); }

/// Runs `logits` with `args` and returns the output file's tensors.
std::unique_ptr<io::SafetensorsReader> logits_of(const std::string& args, const test::TempDir& tmp) {
  const auto r = run_cli("logits --inputs " + kInputs + " --out " + (tmp / "logits.safetensors") + " --greedy 6 " + args);
  EXPECT_EQ(r.code, 0) << r.err;
  if (r.code != 0) return nullptr;
  return std::make_unique<io::SafetensorsReader>(io::SafetensorsReader::open(tmp / "logits.safetensors"));
}

/// A native adapter on t5-tiny with LoRA, LNFit and BitFit (random weights).
void write_native_adapter(const std::string& dir, bool with_lora = true) {
  auto bb = model::load_t5(kModel);
  peft::Structure s;
  if (with_lora) {
    s.modules.push_back({"encoder.block.0.layer.0.SelfAttention.q", "lora", 2});
    s.modules.push_back({"decoder.block.1.layer.1.EncDecAttention.v", "lora", 4});
    s.modules.push_back({"encoder.final_layer_norm", "lnfit", 1});
  }
  s.modules.push_back({"encoder.block.1.layer.0.SelfAttention.o", "bitfit", 1});
  peft::PeftModel pm(bb, s, 1);
  {
    torch::NoGradGuard ng;
    auto gen = at::detail::createCPUGenerator(5);
    for (auto& p : pm->parameters()) p.normal_(0.0, 0.1, gen);
  }
  peft::save_native_adapter(*pm, dir);
}

TEST(ExportCli, LogitsWithThePeftFixtureAdapterMatchPeft) {
  test::TempDir tmp;
  auto got = logits_of("--model " + kModel + " --adapter " + kPeft, tmp);
  ASSERT_TRUE(got);
  EXPECT_LE(test::max_rel_diff(got->load("logits"), expected("logits")), 1e-5);
  EXPECT_TRUE(got->load("greedy_ids").equal(expected("greedy_ids")));
}

TEST(ExportCli, MergedExportOfTheFixtureGivesPeftsMergedLogits) {
  test::TempDir tmp;
  const auto r = run_cli("export --model " + kModel + " --adapter " + kPeft + " --format merged --out " + (tmp / "merged"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["merged"].size(), 12u);
  EXPECT_NE(r.err.find("merged 12 module(s)"), std::string::npos) << r.err;
  for (const char* f : {"config.json", "model.safetensors", "bipeft_export.json"})
    EXPECT_TRUE(std::filesystem::exists(tmp / ("merged/" + std::string(f)))) << f;
  auto got = logits_of("--model " + (tmp / "merged"), tmp);
  ASSERT_TRUE(got);
  EXPECT_LE(test::max_rel_diff(got->load("logits"), expected("merged_logits")), 1e-5);
}

TEST(ExportCli, PeftExportOfTheFixtureReloadsToTheSameLogits) {
  test::TempDir tmp;
  const auto r = run_cli("export --model " + kModel + " --adapter " + kPeft + " --format peft --out " + (tmp / "peft"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("LoRA: 12 module(s), r = lora_alpha = 4"), std::string::npos) << r.err;
  const auto cfg = nlohmann::json::parse(slurp(tmp / "peft/adapter_config.json"));
  EXPECT_EQ(cfg["lora_alpha"], 4);
  EXPECT_EQ(cfg["base_model_name_or_path"], kModel);
  EXPECT_EQ(cfg["target_modules"].size(), 12u);
  EXPECT_TRUE(std::filesystem::exists(tmp / "peft/native/structure.json"));
  auto got = logits_of("--model " + kModel + " --adapter " + (tmp / "peft"), tmp);
  ASSERT_TRUE(got);
  EXPECT_LE(test::max_rel_diff(got->load("logits"), expected("logits")), 1e-5);
}

TEST(ExportCli, PeftExportListsWhatOnlyTheNativeCopyHolds) {
  test::TempDir tmp;
  write_native_adapter(tmp / "adapter");
  const auto r = run_cli("export --model " + kModel + " --adapter " + (tmp / "adapter") + " --format peft --out " +
                     (tmp / "out"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("bipeft export: warning: not representable in PEFT, kept only in"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bitfit x1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("LNFit: 1 norm(s) as LN tuning"), std::string::npos) << r.err;
  const auto report = nlohmann::json::parse(slurp(tmp / "out/bipeft_export.json"));
  EXPECT_EQ(report["native_only"][0]["id"], "encoder.block.1.layer.0.SelfAttention.o:bitfit");
  EXPECT_EQ(slurp(tmp / "out/native/adapter.safetensors"), slurp(tmp / "adapter/adapter.safetensors"));
  const auto cfg = nlohmann::json::parse(slurp(tmp / "out/adapter_config.json"));
  EXPECT_EQ(cfg["rank_pattern"], nlohmann::json({{"encoder.block.0.layer.0.SelfAttention.q", 2}}));
}

TEST(ExportCli, MergedExportRefusesBitFitUnlessDropped) {
  test::TempDir tmp;
  write_native_adapter(tmp / "adapter");
  const std::string base = "export --model " + kModel + " --adapter " + (tmp / "adapter") + " --format merged --out ";
  const auto refused = run_cli(base + (tmp / "refused"));
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.err.find("bipeft export: error: 1 module(s) cannot be merged"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("encoder.block.1.layer.0.SelfAttention.o:bitfit"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--drop-unmergeable"), std::string::npos) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "refused"));
  const auto dropped = run_cli(base + (tmp / "dropped") + " --drop-unmergeable");
  ASSERT_EQ(dropped.code, 0) << dropped.err;
  EXPECT_NE(dropped.err.find("warning: dropped 1 unmergeable module(s)"), std::string::npos) << dropped.err;
  EXPECT_EQ(nlohmann::json::parse(dropped.out)["dropped"],
            nlohmann::json({"encoder.block.1.layer.0.SelfAttention.o:bitfit"}));
}

TEST(ExportCli, AdapterWithoutLoraOrLnfitExportsWithAWarning) {
  test::TempDir tmp;
  write_native_adapter(tmp / "adapter", /*with_lora=*/false);
  const auto r = run_cli("export --model " + kModel + " --adapter " + (tmp / "adapter") + " --format peft --out " +
                     (tmp / "out"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: the adapter has no LoRA and no LNFit module"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "out/adapter_config.json"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "out/native/structure.json"));
}

TEST(ExportCli, ErrorsHaveClearMessagesAndExitCodes) {
  test::TempDir tmp;
  std::filesystem::create_directories(tmp / "full");
  std::ofstream(tmp / "full/x") << "x";
  const auto not_empty = run_cli("export --model " + kModel + " --adapter " + kPeft + " --format peft --out " + (tmp / "full"));
  EXPECT_EQ(not_empty.code, 2);
  EXPECT_NE(not_empty.err.find("exists and is not empty; use --overwrite"), std::string::npos) << not_empty.err;

  std::filesystem::create_directories(tmp / "bad");
  std::ofstream(tmp / "bad/adapter_config.json") << "{\"peft_type\": ";
  const auto bad = run_cli("export --model " + kModel + " --adapter " + (tmp / "bad") + " --format peft --out " + (tmp / "o1"));
  EXPECT_EQ(bad.code, 3);
  EXPECT_NE(bad.err.find("adapter_config.json: not valid JSON"), std::string::npos) << bad.err;

  const auto format = run_cli("export --model " + kModel + " --adapter " + kPeft + " --format gguf --out " + (tmp / "o2"));
  EXPECT_EQ(format.code, 2);

  const auto missing = run_cli("logits --model " + kModel + " --adapter " + (tmp / "nope") + " --inputs " + kInputs +
                           " --out " + (tmp / "l.safetensors"));
  EXPECT_EQ(missing.code, 2);

  const auto same = run_cli("export --model " + kModel + " --adapter " + kPeft + " --format merged --out " + kPeft);
  EXPECT_EQ(same.code, 2);
  EXPECT_NE(same.err.find("is the --adapter folder"), std::string::npos) << same.err;
}

TEST(ExportCli, OverwriteReplacesAnEarlierExport) {
  test::TempDir tmp;
  write_native_adapter(tmp / "adapter");
  const std::string out = tmp / "out";
  ASSERT_EQ(run_cli("export --model " + kModel + " --adapter " + (tmp / "adapter") + " --format peft --out " + out).code, 0);
  ASSERT_TRUE(std::filesystem::exists(out + "/ln_tuning"));
  const auto again = run_cli("export --model " + kModel + " --adapter " + kPeft + " --format peft --overwrite --out " + out);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_FALSE(std::filesystem::exists(out + "/ln_tuning")) << "stale part of the earlier export";
}

}  // namespace
}  // namespace bipeft
