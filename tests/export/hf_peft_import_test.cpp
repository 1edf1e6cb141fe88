// Importing Hugging Face PEFT adapters: parity with PEFT 0.4 on the reference LoRA fixture (logits, loss,
// greedy ids, gradients) and clear errors for adapters that do not fit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/export/adapter_loader.h"
#include "bipeft/export/hf_peft_import.h"
#include "bipeft/io/safetensors.h"
#include "bipeft/model/generate.h"
#include "bipeft/model/t5_weights.h"
#include "test_util.h"
#include "export/site_names.h"

namespace bipeft::exporter {
namespace {

using test::data_path;
using test::max_rel_diff;

constexpr double kFixtureScaling = 2.0;  // lora_alpha 8 / r 4


class PeftLoraFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = data_path("fixtures/peft-lora-t5-tiny");
    backbone = model::load_t5(data_path("fixtures/t5-tiny"));
    expected = std::make_unique<io::SafetensorsReader>(io::SafetensorsReader::open(dir + "/expected.safetensors"));
  }
  at::Tensor exp(const std::string& name) const { return expected->load(name); }
  model::Seq2SeqOutput run(model::T5ModelImpl& m) const {
    return m.forward(exp("input_ids"), exp("attention_mask"), exp("decoder_input_ids"), exp("labels"));
  }
  std::string dir;
  model::T5Model backbone{nullptr};
  std::unique_ptr<io::SafetensorsReader> expected;
};

TEST_F(PeftLoraFixture, ImportsTwelveLoraModulesIncludingCrossAttention) {
  auto pm = load_adapter(backbone, dir);
  ASSERT_EQ(pm->modules.size(), 12u);
  for (const auto& m : pm->modules) {
    EXPECT_EQ(m->method(), "lora");
    EXPECT_EQ(m->rank_max(), 4);
  }
  EXPECT_TRUE(pm->find("decoder.block.1.layer.1.EncDecAttention.v:lora"));
  EXPECT_FALSE(pm->find("decoder.block.1.layer.1.EncDecAttention.k:lora"));
}

TEST_F(PeftLoraFixture, LogitsLossAndEncoderStatesMatchPeft) {
  auto pm = load_adapter(backbone, dir);
  torch::NoGradGuard ng;
  auto out = run(*backbone);
  const double rel = max_rel_diff(out.logits, exp("logits"));
  EXPECT_LE(rel, 1e-5);
  EXPECT_LE(max_rel_diff(out.encoder_hidden, exp("encoder_last_hidden_state")), 1e-5);
  EXPECT_NEAR(out.loss.item<double>(), exp("loss").item<double>(), 1e-6);
  RecordProperty("logits_max_rel_diff", std::to_string(rel));
}

TEST_F(PeftLoraFixture, GreedyIdsMatchPeftGenerate) {
  auto pm = load_adapter(backbone, dir);
  torch::NoGradGuard ng;
  auto want = exp("greedy_ids");
  auto ids = model::greedy_generate(*backbone, exp("input_ids"), exp("attention_mask"), want.size(1) - 1);
  EXPECT_TRUE(ids.equal(want)) << ids << "\nexpected\n" << want;
}

// PEFT computes x A^T (s B_hf)^T with s = 2; bipeft stores B = s B_hf and computes x A^T B^T. The loss is the
// same function of A, so dL/dA_hf = dL/dA; and dL/dB_hf = s dL/dB.
TEST_F(PeftLoraFixture, GradientsMatchPeftAfterMappingTheScalingFold) {
  auto pm = load_adapter(backbone, dir);
  run(*backbone).loss.backward();
  auto grads = io::SafetensorsReader::open(dir + "/grads.safetensors");
  size_t checked = 0;
  for (const auto& m : pm->modules) {
    auto params = m->named_parameters(/*recurse=*/false);
    const std::string key = "base_model.model." + m->site_name();
    const auto ga = params["A"].grad(), gb = params["B"].grad();
    ASSERT_TRUE(ga.defined() && gb.defined()) << m->id();
    EXPECT_LE(max_rel_diff(ga, grads.load(key + ".lora_A.weight")), 1e-4) << m->id();
    EXPECT_LE(max_rel_diff(gb * kFixtureScaling, grads.load(key + ".lora_B.weight")), 1e-4) << m->id();
    checked += 2;
  }
  EXPECT_EQ(checked, grads.entries().size());
  for (const auto& p : backbone->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST_F(PeftLoraFixture, BIsStoredWithThePeftScalingFoldedIn) {
  auto pm = load_adapter(backbone, dir);
  auto st = io::SafetensorsReader::open(dir + "/adapter_model.safetensors");
  auto m = pm->find(kEncQ + ":lora");
  ASSERT_TRUE(m);
  auto params = m->named_parameters(false);
  EXPECT_TRUE(params["A"].equal(st.load("base_model.model." + kEncQ + ".lora_A.weight")));
  EXPECT_TRUE(params["B"].equal(st.load("base_model.model." + kEncQ + ".lora_B.weight") * kFixtureScaling));
}

/// Writes an adapter folder with `config` and `tensors`.
void write_adapter(const std::string& dir, const std::string& config, const io::NamedTensors& tensors) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/adapter_config.json") << config;
  io::save_safetensors(dir + "/adapter_model.safetensors", tensors);
}

io::NamedTensors fixture_tensors() {
  return io::SafetensorsReader::open(data_path("fixtures/peft-lora-t5-tiny/adapter_model.safetensors")).load_all();
}

const char* kLoraConfig = R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q", "v"]})";

TEST_F(PeftLoraFixture, KeysWithAnAdapterNameOrWithoutThePrefixLoadTheSame) {
  test::TempDir tmp;
  io::NamedTensors renamed;
  for (auto& [k, t] : fixture_tensors()) {
    std::string key = k.substr(std::string("base_model.model.").size());
    key = key.substr(0, key.size() - std::string("weight").size()) + "default.weight";
    renamed.emplace_back(key, t);
  }
  write_adapter(tmp.str(), kLoraConfig, renamed);
  torch::NoGradGuard ng;
  at::Tensor a, b;
  {
    auto pm = load_adapter(backbone, dir);
    a = run(*backbone).logits;
  }
  {
    auto pm = load_adapter(backbone, tmp.str());
    b = run(*backbone).logits;
  }
  EXPECT_TRUE(a.equal(b));
}

TEST_F(PeftLoraFixture, RankAndAlphaPatternsGiveEachModuleItsOwnScaling) {
  test::TempDir tmp;
  write_adapter(tmp.str(), R"({"peft_type": "LORA", "r": 8, "lora_alpha": 8, "target_modules": ["q", "v"],
      "rank_pattern": {"q": 4, "v": 4}, "alpha_pattern": {")" + kEncQ + R"(": 1}, "use_rslora": false})",
                fixture_tensors());
  auto pm = load_adapter(backbone, tmp.str());
  auto st = io::SafetensorsReader::open(dir + "/adapter_model.safetensors");
  auto b_of = [&](const std::string& module) { return pm->find(module + ":lora")->named_parameters(false)["B"]; };
  auto hf_b = [&](const std::string& module) { return st.load("base_model.model." + module + ".lora_B.weight"); };
  EXPECT_TRUE(b_of(kEncQ).equal(hf_b(kEncQ) * 0.25));  // alpha 1 / r 4
  const std::string v = "encoder.block.0.layer.0.SelfAttention.v";
  EXPECT_TRUE(b_of(v).equal(hf_b(v) * 2.0));  // alpha 8 / r 4
}

// ---- bad inputs ------------------------------------------------------------------------------------------

TEST_F(PeftLoraFixture, MissingFolderIsAnIoError) {
  EXPECT_THROW_WITH(load_adapter(backbone, dir + "/no-such-folder"), IoError, "no-such-folder: adapter folder not found");
}

TEST_F(PeftLoraFixture, FolderWithoutAConfigIsAFormatError) {
  test::TempDir tmp;
  EXPECT_THROW_WITH(load_adapter(backbone, tmp.str()), FormatError, "not an adapter folder");
}

TEST_F(PeftLoraFixture, ConfigThatIsNotJsonIsAFormatErrorNamingTheFile) {
  test::TempDir tmp;
  write_adapter(tmp.str(), "{\"peft_type\": \"LORA\",", fixture_tensors());
  EXPECT_THROW_WITH(load_adapter(backbone, tmp.str()), FormatError, "adapter_config.json: not valid JSON");
}

TEST_F(PeftLoraFixture, PeftTypeOtherThanLoraIsRejected) {
  test::TempDir tmp;
  write_adapter(tmp.str(), R"({"peft_type": "IA3", "target_modules": ["k", "v", "wo"]})", fixture_tensors());
  EXPECT_THROW_WITH(load_adapter(backbone, tmp.str()), FormatError, "peft_type 'IA3' is not supported");
}

TEST_F(PeftLoraFixture, MissingWeightsFileIsAnIoError) {
  test::TempDir tmp;
  std::ofstream(tmp / "adapter_config.json") << kLoraConfig;
  EXPECT_THROW_WITH(load_adapter(backbone, tmp.str()), IoError, "no adapter_model.safetensors or adapter_model.bin");
}

TEST_F(PeftLoraFixture, EveryProblemIsListedInOneFormatError) {
  test::TempDir tmp;
  io::NamedTensors t;
  const std::string p = "base_model.model.";
  // A module the model does not have.
  t.emplace_back(p + "encoder.block.7.layer.0.SelfAttention.q.lora_A.weight", at::zeros({4, 64}));
  t.emplace_back(p + "encoder.block.7.layer.0.SelfAttention.q.lora_B.weight", at::zeros({64, 4}));
  // A and B of different ranks.
  t.emplace_back(p + "encoder.block.0.layer.0.SelfAttention.q.lora_A.weight", at::zeros({4, 64}));
  t.emplace_back(p + "encoder.block.0.layer.0.SelfAttention.q.lora_B.weight", at::zeros({64, 3}));
  // B missing.
  t.emplace_back(p + "encoder.block.0.layer.0.SelfAttention.v.lora_A.weight", at::zeros({4, 64}));
  // Rank differs from r.
  t.emplace_back(p + "encoder.block.1.layer.0.SelfAttention.q.lora_A.weight", at::zeros({2, 64}));
  t.emplace_back(p + "encoder.block.1.layer.0.SelfAttention.q.lora_B.weight", at::zeros({64, 2}));
  // Not selected by target_modules.
  t.emplace_back(p + "encoder.block.1.layer.0.SelfAttention.k.lora_A.weight", at::zeros({4, 64}));
  t.emplace_back(p + "encoder.block.1.layer.0.SelfAttention.k.lora_B.weight", at::zeros({64, 4}));
  // Not a LoRA tensor.
  t.emplace_back(p + "encoder.block.1.layer.0.SelfAttention.v.lora_magnitude_vector", at::zeros({64}));
  write_adapter(tmp.str(), kLoraConfig, t);
  try {
    load_adapter(backbone, tmp.str());
    ADD_FAILURE() << "expected a FormatError";
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    for (const char* part : {"the PEFT adapter does not fit this model",
                             "encoder.block.7.layer.0.SelfAttention.q: no such module in this model",
                             "SelfAttention.q: lora_A is [4, 64] and lora_B is [64, 3]",
                             "encoder.block.0.layer.0.SelfAttention.v: lora_B missing",
                             "encoder.block.1.layer.0.SelfAttention.q: tensors have rank 2 but adapter_config.json gives 4",
                             "encoder.block.1.layer.0.SelfAttention.k: has LoRA tensors but is not selected",
                             "lora_magnitude_vector: unsupported tensor"})
      EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in:\n" << msg;
  }
}

TEST_F(PeftLoraFixture, LoraOnANormIsRejected) {
  test::TempDir tmp;
  const std::string m = "base_model.model.encoder.block.0.layer.0.layer_norm";
  write_adapter(tmp.str(), R"({"peft_type": "LORA", "r": 4})",
                {{m + ".lora_A.weight", at::zeros({4, 64})}, {m + ".lora_B.weight", at::zeros({64, 4})}});
  EXPECT_THROW_WITH(load_adapter(backbone, tmp.str()), FormatError, "layer_norm: not a linear layer");
}

TEST_F(PeftLoraFixture, AnAdapterForAnotherWidthIsAShapeProblem) {
  test::TempDir tmp;
  const std::string m = "base_model.model." + kEncQ;
  write_adapter(tmp.str(), kLoraConfig, {{m + ".lora_A.weight", at::zeros({4, 512})}, {m + ".lora_B.weight", at::zeros({512, 4})}});
  EXPECT_THROW_WITH(load_adapter(backbone, tmp.str()), FormatError, "this layer needs [r, 64] and [64, r]");
}

}  // namespace
}  // namespace bipeft::exporter
