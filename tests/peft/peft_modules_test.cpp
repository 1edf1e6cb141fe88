// Properties every PEFT method must have, checked for each method at every rank on both T5 variants.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/safetensors.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/peft/peft_model.h"
#include "test_util.h"

namespace bipeft::peft {
namespace {

constexpr int64_t kRankMax = 4;

struct Case {
  std::string method;
  std::string fixture;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.method + "_" + (info.param.fixture == "t5-tiny" ? "v1_0" : "v1_1");
}

class PeftModuleProperties : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    inputs = std::make_unique<io::SafetensorsReader>(
        io::SafetensorsReader::open(test::data_path("fixtures/t5-tiny/expected.safetensors")));
  }
  model::T5Model backbone() const { return model::load_t5(test::data_path("fixtures/" + GetParam().fixture)); }
  Structure structure(model::T5Model& bb, int64_t rank) const {
    return manual_structure({GetParam().method}, rank, {"all", "cross"}, bb->sites());
  }
  static void randomize_(PeftModelImpl& pm, uint64_t seed) {
    torch::NoGradGuard ng;
    auto gen = at::detail::createCPUGenerator(seed);
    for (auto& p : pm.parameters()) p.normal_(0.0, 0.1, gen);
  }
  model::Seq2SeqOutput run(model::T5ModelImpl& m) const {
    return m.forward(inputs->load("input_ids"), inputs->load("attention_mask"), inputs->load("decoder_input_ids"),
                     inputs->load("labels"));
  }
  std::unique_ptr<io::SafetensorsReader> inputs;
};

TEST_P(PeftModuleProperties, ReportedCountEqualsNumelOfSlicesAtEveryRank) {
  auto bb = backbone();
  PeftModel pm(bb, structure(bb, kRankMax), 1);
  ASSERT_FALSE(pm->modules.empty());
  for (const auto& m : pm->modules) {
    for (int64_t r = 0; r <= m->rank_max(); ++r) {
      int64_t numel = 0;
      for (const auto& [n, t] : m->slices(r)) numel += t.numel();
      EXPECT_EQ(m->param_count(r), numel) << m->id() << " rank " << r;
    }
    EXPECT_EQ(m->param_count(0), 0) << m->id();
  }
  // The full-rank total equals the number of registered trainable values.
  int64_t registered = 0;
  for (const auto& p : pm->parameters()) registered += p.numel();
  EXPECT_EQ(pm->trainable_count(), registered);
}

TEST_P(PeftModuleProperties, RankSliceBehavesExactlyLikeASeparatelyBuiltModule) {
  auto bb = backbone();
  PeftModel big(bb, structure(bb, kRankMax), 1);
  randomize_(*big, 7);
  const int64_t rmax = GetParam().method == "bitfit" || GetParam().method == "lnfit" ? 1 : kRankMax;
  for (int64_t r = 1; r <= rmax; ++r) {
    at::Tensor sliced_logits;
    {
      torch::NoGradGuard ng;
      for (auto& m : big->modules) m->set_gate(Gate::fixed(std::min(r, m->rank_max())));
      sliced_logits = run(*bb).logits;
      for (auto& m : big->modules) m->set_gate(Gate::full());
    }
    big->detach_();
    auto bb2 = backbone();
    auto s = structure(bb2, r);
    PeftModel small(bb2, s, 99);
    for (auto& m : small->modules) {
      auto src = m->site_name().empty() ? big->modules.front() : big->find(m->id());
      ASSERT_TRUE(src) << m->id();
      m->load_slices_(src->slices(m->rank_max()));
    }
    torch::NoGradGuard ng;
    auto own_logits = run(*bb2).logits;
    EXPECT_LE(test::max_rel_diff(sliced_logits, own_logits), 1e-6) << "rank " << r;
    big->attach_();
  }
}

TEST_P(PeftModuleProperties, GateZeroReturnsTheFrozenModelsOutputExactly) {
  auto bb = backbone();
  torch::NoGradGuard ng;
  auto base = run(*bb).logits;
  PeftModel pm(bb, structure(bb, kRankMax), 1);
  randomize_(*pm, 3);
  auto changed = run(*bb).logits;
  EXPECT_FALSE(changed.equal(base)) << "randomized modules should change the output";
  for (auto& m : pm->modules) m->set_gate(Gate::fixed(0));
  EXPECT_TRUE(run(*bb).logits.equal(base));
}

TEST_P(PeftModuleProperties, GradientsReachOnlyTrainableTensors) {
  auto bb = backbone();
  PeftModel pm(bb, structure(bb, kRankMax), 1);
  randomize_(*pm, 5);
  run(*bb).loss.backward();
  for (const auto& p : bb->named_parameters()) EXPECT_FALSE(p.value().grad().defined()) << p.key();
  for (const auto& m : pm->modules) {
    double total = 0;
    for (const auto& p : m->parameters()) {
      ASSERT_TRUE(p.grad().defined()) << m->id();
      total += p.grad().abs().sum().item<double>();
    }
    EXPECT_GT(total, 0.0) << m->id();
  }
}

TEST_P(PeftModuleProperties, DetachingRestoresTheBackbone) {
  auto bb = backbone();
  torch::NoGradGuard ng;
  auto base = run(*bb).logits;
  {
    PeftModel pm(bb, structure(bb, kRankMax), 1);
    randomize_(*pm, 3);
  }
  EXPECT_TRUE(run(*bb).logits.equal(base));
}

TEST_P(PeftModuleProperties, NativeSaveLoadRoundTripIsBitwise) {
  auto bb = backbone();
  PeftModel pm(bb, structure(bb, kRankMax), 1);
  randomize_(*pm, 11);
  auto bytes = io::safetensors_bytes(pm->native_tensors());
  torch::NoGradGuard ng;
  auto before = run(*bb).logits;
  pm->detach_();
  auto bb2 = backbone();
  PeftModel again(bb2, Structure::from_json(pm->structure().to_json(), "round-trip"), 2);
  again->load_native_(io::SafetensorsReader(io::buffer_from_string(bytes, "mem")));
  EXPECT_TRUE(run(*bb2).logits.equal(before));
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const auto& m : methods())
    for (const char* f : {"t5-tiny", "t5-tiny-gated"}) out.push_back({m.name, f});
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllMethods, PeftModuleProperties, ::testing::ValuesIn(all_cases()), case_name);

TEST(PeftInit, LoraLnfitBitfitAdapterLrAndPrefixStartAsTheIdentity) {
  auto bb = model::load_t5(test::data_path("fixtures/t5-tiny"));
  auto in = io::SafetensorsReader::open(test::data_path("fixtures/t5-tiny/expected.safetensors"));
  torch::NoGradGuard ng;
  auto base = bb->forward(in.load("input_ids"), in.load("attention_mask"), in.load("decoder_input_ids")).logits;
  for (const char* method : {"lora", "lnfit", "bitfit", "adapter_lr", "prefix"}) {
    PeftModel pm(bb, manual_structure({method}, 4, {"all"}, bb->sites()), 1);
    auto out = bb->forward(in.load("input_ids"), in.load("attention_mask"), in.load("decoder_input_ids")).logits;
    EXPECT_TRUE(out.equal(base)) << method;
  }
}

TEST(PeftStructure, ManualShortcutsBuildTheExpectedModules) {
  auto bb = model::load_t5(test::data_path("fixtures/t5-tiny-gated"));
  auto s = manual_structure({"lora:r=4:targets=q,wi", "bitfit"}, 8, {}, bb->sites());
  int lora = 0, bitfit = 0;
  for (const auto& m : s.modules) {
    if (m.method == "lora") {
      ++lora;
      EXPECT_EQ(m.rank, 4);
      EXPECT_TRUE(ends_with(m.site, ".q") || ends_with(m.site, ".wi_0") || ends_with(m.site, ".wi_1")) << m.site;
    }
    if (m.method == "bitfit") ++bitfit;
  }
  EXPECT_EQ(lora, 4 * 3);    // 4 blocks x (q, wi_0, wi_1)
  EXPECT_EQ(bitfit, 4 * 7 + (2 * 2 + 2 * 3) + 2);  // 7 linear outputs/block; 2 norms/enc block, 3/dec block; 2 final
}

TEST(PeftStructure, UnknownMethodAndUnmatchedTargetsAreConfigErrors) {
  auto bb = model::load_t5(test::data_path("fixtures/t5-tiny"));
  EXPECT_THROW_WITH(manual_structure({"dora"}, 8, {}, bb->sites()), ConfigError, "unknown PEFT method 'dora'");
  EXPECT_THROW_WITH(manual_structure({"lora"}, 8, {"wi_0"}, bb->sites()), ConfigError, "match no module");
}

TEST(PeftStructure, StructureNamingAMissingModuleIsRejected) {
  auto bb = model::load_t5(test::data_path("fixtures/t5-tiny"));
  Structure s;
  s.modules.push_back({"encoder.block.7.layer.0.SelfAttention.q", "lora", 4});
  s.modules.push_back({"encoder.block.0.layer.0.layer_norm", "lora", 4});
  EXPECT_THROW_WITH(PeftModel(bb, s, 1), ConfigError, "encoder.block.7.layer.0.SelfAttention.q: no such module");
  EXPECT_THROW_WITH(PeftModel(bb, s, 1), ConfigError, "layer_norm: lora cannot attach there");
}

TEST(PeftStructure, JsonRoundTripIsIdentical) {
  auto bb = model::load_t5(test::data_path("fixtures/t5-tiny"));
  auto s = manual_structure({"lora", "lnfit", "prefix:r=2"}, 8, {}, bb->sites());
  auto back = Structure::from_json(s.to_json(), "x");
  EXPECT_EQ(back.to_json(), s.to_json());
}

TEST(PeftStructure, MalformedStructureFileNamesTheEntry) {
  auto j = nlohmann::json::parse(R"({"modules":[{"module":"encoder.final_layer_norm","method":"lora"}]})");
  EXPECT_THROW_WITH(Structure::from_json(j, "s.json"), FormatError, "s.json modules[0]: missing field 'rank'");
}

}  // namespace
}  // namespace bipeft::peft
