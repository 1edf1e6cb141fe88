// Exporting to Hugging Face PEFT format: config fields, tensor names and shapes, the scaling fold, LN
// tuning, the native copy, and export -> import round trips.
#include <gtest/gtest.h>

#include <set>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "bipeft/core/error.h"
#include "bipeft/export/hf_peft_config.h"
#include "bipeft/export/hf_peft_export.h"
#include "bipeft/export/hf_peft_import.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/io/safetensors.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/peft/adapter_io.h"
#include "test_util.h"
#include "export/site_names.h"

namespace bipeft::exporter {
namespace {

using test::data_path;

const std::string kEncV = "encoder.block.0.layer.0.SelfAttention.v";
const std::string kEncWo = "encoder.block.1.layer.1.DenseReluDense.wo";
const std::string kDecWi = "decoder.block.1.layer.2.DenseReluDense.wi";
const std::string kEncLn = "encoder.block.0.layer.0.layer_norm";
const std::string kDecFinal = "decoder.final_layer_norm";

/// LoRA at ranks 2 and 4 (self-attention, cross-attention, FFN).
std::vector<peft::ModuleSpec> lora_specs() {
  return {{kEncQ, "lora", 2}, {kEncV, "lora", 4}, {kEncWo, "lora", 2}, {kDec0CrossQ, "lora", 4}, {kDecWi, "lora", 2}};
}

peft::Structure structure_of(std::vector<peft::ModuleSpec> specs) {
  peft::Structure s;
  s.modules = std::move(specs);
  return s;
}

/// LoRA at mixed ranks + LNFit + BitFit.
peft::Structure mixed_structure() {
  auto specs = lora_specs();
  specs.push_back({kEncLn, "lnfit", 1});
  specs.push_back({kDecFinal, "lnfit", 1});
  specs.push_back({"encoder.block.1.layer.0.SelfAttention.o", "bitfit", 1});
  specs.push_back({"decoder.block.0.layer.1.layer_norm", "bitfit", 1});
  return structure_of(specs);
}

class HfPeftExport : public ::testing::Test {
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

TEST_F(HfPeftExport, ConfigListsFullTargetNamesRankPatternAndOneGlobalAlpha) {
  auto bb = backbone();
  auto pm = adapted(bb, mixed_structure(), 3);
  test::TempDir out;
  HfPeftExportOptions o;
  o.base_model_name_or_path = "models/t5-tiny";
  auto s = export_hf_peft(*pm, out.str(), o);
  auto cfg = io::read_json_file(out / "adapter_config.json");
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["task_type"], "SEQ_2_SEQ_LM");
  EXPECT_EQ(cfg["base_model_name_or_path"], "models/t5-tiny");
  EXPECT_EQ(cfg["target_modules"], nlohmann::json({kEncQ, kEncV, kEncWo, kDec0CrossQ, kDecWi}));
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["lora_alpha"], 4);
  EXPECT_EQ(cfg["rank_pattern"], nlohmann::json({{kEncQ, 2}, {kEncWo, 2}, {kDecWi, 2}}));
  EXPECT_EQ(cfg["alpha_pattern"], nlohmann::json::object());
  EXPECT_EQ(cfg["lora_dropout"], 0.0);
  EXPECT_EQ(cfg["bias"], "none");
  EXPECT_EQ(cfg["fan_in_fan_out"], false);
  EXPECT_EQ(cfg["inference_mode"], true);
  EXPECT_EQ(cfg["init_lora_weights"], true);
  EXPECT_TRUE(cfg["modules_to_save"].is_null());
  EXPECT_TRUE(cfg["revision"].is_null());
  // The key set: only keys PEFT 0.6 (the first release with rank_pattern) to the newest accept as
  // LoraConfig arguments (releases before 0.14 reject unknown keys). No peft_version, no use_rslora.
  std::set<std::string> keys;
  for (const auto& [k, v] : cfg.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias",
                                         "fan_in_fan_out", "inference_mode", "init_lora_weights", "layers_pattern",
                                         "layers_to_transform", "lora_alpha", "lora_dropout", "modules_to_save",
                                         "peft_type", "r", "rank_pattern", "revision", "target_modules",
                                         "task_type"}));
  // Our provenance is in our own file.
  EXPECT_EQ(io::read_json_file(out / "bipeft_export.json")["producer"], default_producer());
  EXPECT_EQ(s.lora_r, 4);
  // PEFT's own reading of the config gives every module its rank.
  auto parsed = HfPeftConfig::read(out / "adapter_config.json");
  for (const auto& spec : lora_specs()) EXPECT_EQ(parsed.rank_of(spec.site), spec.rank) << spec.site;
}

TEST_F(HfPeftExport, TensorsHavePeftNamesShapesAndTheScalingFold) {
  auto bb = backbone();
  auto pm = adapted(bb, mixed_structure(), 3);
  test::TempDir out;
  export_hf_peft(*pm, out.str());
  auto st = io::SafetensorsReader::open(out / "adapter_model.safetensors");
  EXPECT_EQ(st.metadata().at("format"), "pt");
  EXPECT_EQ(st.entries().size(), 2 * lora_specs().size());
  const std::map<std::string, std::pair<int64_t, int64_t>> in_out = {
      {kEncQ, {64, 64}}, {kEncV, {64, 64}}, {kEncWo, {128, 64}}, {kDec0CrossQ, {64, 64}}, {kDecWi, {64, 128}}};
  for (const auto& spec : lora_specs()) {
    const std::string key = "base_model.model." + spec.site;
    auto a = st.load(key + ".lora_A.weight"), b = st.load(key + ".lora_B.weight");
    const auto [in, outw] = in_out.at(spec.site);
    EXPECT_EQ(a.sizes().vec(), (std::vector<int64_t>{spec.rank, in})) << spec.site;
    EXPECT_EQ(b.sizes().vec(), (std::vector<int64_t>{outw, spec.rank})) << spec.site;
    auto params = pm->find(spec.site + ":lora")->named_parameters(false);
    EXPECT_TRUE(a.equal(params["A"])) << spec.site;
    // PEFT scaling lora_alpha / r_i = 4 / r_i times the stored B gives bipeft's B.
    EXPECT_TRUE((b * (4.0 / static_cast<double>(spec.rank))).equal(params["B"])) << spec.site;
  }
}

TEST_F(HfPeftExport, LoraAtMixedRanksRoundTripsBitwise) {
  auto bb = backbone();
  auto pm = adapted(bb, structure_of(lora_specs()), 5);
  const auto before = logits(*bb);
  test::TempDir out;
  export_hf_peft(*pm, out.str());
  pm->detach_();
  auto bb2 = backbone();
  auto again = load_hf_peft_adapter(bb2, out.str());
  EXPECT_EQ(again->structure().to_json(), pm->structure().to_json());
  EXPECT_TRUE(logits(*bb2).equal(before));
}

TEST_F(HfPeftExport, LoraLnfitBitfitExportKeepsEveryPartSomewhere) {
  auto bb = backbone();
  auto pm = adapted(bb, mixed_structure(), 7);
  const auto with_bitfit = logits(*bb);
  at::Tensor without_bitfit;
  for (auto& m : pm->modules)
    if (m->method() == "bitfit") m->set_gate(peft::Gate::fixed(0));
  without_bitfit = logits(*bb);
  for (auto& m : pm->modules) m->set_gate(peft::Gate::full());
  ASSERT_FALSE(with_bitfit.equal(without_bitfit));

  test::TempDir out;
  auto s = export_hf_peft(*pm, out.str());
  EXPECT_EQ(s.ln_tuning_modules, (std::vector<std::string>{kEncLn, kDecFinal}));
  EXPECT_EQ(s.native_only, (std::vector<std::string>{"encoder.block.1.layer.0.SelfAttention.o:bitfit",
                                                     "decoder.block.0.layer.1.layer_norm:bitfit"}));

  // LN tuning: a PEFT adapter in ln_tuning/ holding the whole new norm weight.
  auto ln_cfg = io::read_json_file(out / "ln_tuning/adapter_config.json");
  EXPECT_EQ(ln_cfg["peft_type"], "LN_TUNING");
  std::set<std::string> ln_keys;  // LNTuningConfig's arguments since PEFT 0.11, its first release
  for (const auto& [k, v] : ln_cfg.items()) ln_keys.insert(k);
  EXPECT_EQ(ln_keys, (std::set<std::string>{"auto_mapping", "base_model_name_or_path", "inference_mode",
                                            "modules_to_save", "peft_type", "revision", "target_modules",
                                            "task_type"}));
  EXPECT_EQ(ln_cfg["task_type"], "SEQ_2_SEQ_LM");
  EXPECT_EQ(ln_cfg["target_modules"], nlohmann::json({kEncLn, kDecFinal}));
  auto ln = io::SafetensorsReader::open(out / "ln_tuning/adapter_model.safetensors");
  EXPECT_EQ(ln.entries().size(), 2u);
  auto params = bb->named_parameters();
  for (const auto& norm : {kEncLn, kDecFinal}) {
    auto w = pm->find(norm + ":lnfit")->named_parameters(false)["weight"];
    EXPECT_TRUE(ln.load("base_model.model." + norm + ".ln_tuning_layers.weight").equal(params[norm + ".weight"] + w))
        << norm;
  }

  // The report and the native copy.
  auto report = io::read_json_file(out / "bipeft_export.json");
  EXPECT_EQ(report["export_format"], "peft");
  EXPECT_EQ(report["native_only"].size(), 2u);
  EXPECT_EQ(report["native_only"][0]["method"], "bitfit");
  EXPECT_EQ(report["lora"]["modules"][kEncQ], 2);
  EXPECT_EQ(report["ln_tuning"]["folder"], "ln_tuning");
  EXPECT_FALSE(report["warnings"].empty());
  ASSERT_TRUE(peft::is_native_adapter(out / "native"));

  pm->detach_();
  {
    // PEFT format (LoRA + LN tuning) reproduces the model without BitFit.
    auto bb2 = backbone();
    auto again = load_hf_peft_adapter(bb2, out.str());
    EXPECT_EQ(again->modules.size(), lora_specs().size() + 2);
    EXPECT_LE(test::max_rel_diff(logits(*bb2), without_bitfit), 1e-6);
  }
  {
    // native/ reproduces everything, bitwise.
    auto bb3 = backbone();
    auto native = peft::load_native_adapter(bb3, out / "native");
    EXPECT_TRUE(logits(*bb3).equal(with_bitfit));
  }
}

TEST_F(HfPeftExport, NativeSourceIsCopiedVerbatim) {
  auto bb = backbone();
  auto pm = adapted(bb, mixed_structure(), 9);
  test::TempDir src, out;
  peft::save_native_adapter(*pm, src.str(), {{"trained_by", "test"}});
  HfPeftExportOptions o;
  o.native_source = src.str();
  export_hf_peft(*pm, out.str(), o);
  for (const char* f : {"structure.json", "adapter.safetensors"})
    EXPECT_EQ(io::read_file(out / (std::string("native/") + f)), io::read_file(src / f)) << f;
}

TEST_F(HfPeftExport, AdapterWithoutLoraOrLnfitWritesOnlyTheNativeCopyAndTheReport) {
  auto bb = backbone();
  auto pm = adapted(bb, structure_of({{"encoder.block.1.layer.0.SelfAttention.o", "bitfit", 1},
                                      {"encoder.block.0.layer.0.SelfAttention", "serial_adapter", 2}}),
                    2);
  test::TempDir out;
  auto s = export_hf_peft(*pm, out.str());
  EXPECT_TRUE(s.nothing_for_peft());
  EXPECT_FALSE(io::is_file(out / "adapter_config.json"));
  EXPECT_FALSE(io::is_dir(out / "ln_tuning"));
  EXPECT_TRUE(peft::is_native_adapter(out / "native"));
  auto report = io::read_json_file(out / "bipeft_export.json");
  EXPECT_TRUE(report["lora"].is_null());
  EXPECT_TRUE(report["ln_tuning"].is_null());
  EXPECT_EQ(report["native_only"].size(), 2u);
  ASSERT_EQ(report["warnings"].size(), 1u);
  EXPECT_NE(report["warnings"][0].get<std::string>().find("no LoRA and no LNFit"), std::string::npos);
}

TEST_F(HfPeftExport, FullFinetuneBackboneIsListedAsNativeOnly) {
  auto bb = backbone();
  auto s = structure_of(lora_specs());
  s.full_finetune = true;
  auto pm = adapted(bb, s, 4);
  test::TempDir out;
  auto summary = export_hf_peft(*pm, out.str());
  EXPECT_EQ(summary.native_only, std::vector<std::string>{"backbone"});
  EXPECT_EQ(summary.lora_modules.size(), lora_specs().size());
}

}  // namespace
}  // namespace bipeft::exporter
