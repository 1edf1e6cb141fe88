// Parity with Hugging Face transformers 4.30 on the reference fixtures (fp32, eval mode).
#include <gtest/gtest.h>

#include <cmath>

#include "bipeft/io/safetensors.h"
#include "bipeft/model/generate.h"
#include "bipeft/model/t5_weights.h"
#include "test_util.h"

namespace bipeft::model {
namespace {

using test::data_path;
using test::max_rel_diff;

class T5Parity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir = data_path("fixtures/" + GetParam());
    model = load_t5(dir);
    expected = std::make_unique<io::SafetensorsReader>(io::SafetensorsReader::open(dir + "/expected.safetensors"));
  }
  at::Tensor exp(const std::string& name) const { return expected->load(name); }
  std::string dir;
  T5Model model{nullptr};
  std::unique_ptr<io::SafetensorsReader> expected;
};

TEST_P(T5Parity, LogitsAndEncoderStatesMatchTransformers) {
  torch::NoGradGuard ng;
  auto out = model->forward(exp("input_ids"), exp("attention_mask"), exp("decoder_input_ids"), exp("labels"));
  double logits_rel = max_rel_diff(out.logits, exp("logits"));
  double enc_rel = max_rel_diff(out.encoder_hidden, exp("encoder_last_hidden_state"));
  EXPECT_LE(logits_rel, 1e-5) << "logits";
  EXPECT_LE(enc_rel, 1e-5) << "encoder_last_hidden_state";
  // The loss within 1e-6 relative (a few float32 ulps; it was 1e-6 absolute, less than one ulp of the
  // gated fixture's loss of 29.01, i.e. bitwise equality). LibTorch >= 2.0 runs its AVX512 kernels
  // on CPUs that have AVX512 (1.13 ran AVX2 ones there); the AVX512 softmax sums its 16 lanes in
  // another order, the attention probabilities move by an ulp, and the loss by 2 ulps (3.8e-6).
  // With ATEN_CPU_CAPABILITY=avx2 LibTorch 2.6 gives transformers' encoder states bit for bit.
  const double expected_loss = exp("loss").item<double>();
  EXPECT_NEAR(out.loss.item<double>(), expected_loss, 1e-6 * std::abs(expected_loss));
  RecordProperty("logits_max_rel_diff", std::to_string(logits_rel));
}

TEST_P(T5Parity, DecoderInputsFromLabelsEqualShiftRight) {
  EXPECT_TRUE(model->shift_right(exp("labels")).equal(exp("decoder_input_ids")));
}

TEST_P(T5Parity, GreedyIdsMatchTransformersGenerate) {
  auto expected_ids = exp("greedy_ids");
  auto ids = greedy_generate(*model, exp("input_ids"), exp("attention_mask"), expected_ids.size(1) - 1);
  EXPECT_TRUE(ids.equal(expected_ids)) << ids << "\nexpected\n" << expected_ids;
}

TEST_P(T5Parity, EveryParameterGradientMatchesTransformers) {
  model->set_backbone_trainable(true);
  auto out = model->forward(exp("input_ids"), exp("attention_mask"), exp("decoder_input_ids"), exp("labels"));
  out.loss.backward();
  auto grads = io::SafetensorsReader::open(dir + "/grads.safetensors");
  size_t checked = 0;
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(grads.contains(p.key())) << p.key();
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_LE(max_rel_diff(p.value().grad(), grads.load(p.key())), 1e-4) << p.key();
    ++checked;
  }
  EXPECT_EQ(checked, grads.entries().size());
}

TEST_P(T5Parity, SaveReloadGivesIdenticalLogits) {
  test::TempDir tmp;
  save_t5(*model, tmp.str());
  auto again = load_t5(tmp.str());
  torch::NoGradGuard ng;
  auto a = model->forward(exp("input_ids"), exp("attention_mask"), exp("decoder_input_ids")).logits;
  auto b = again->forward(exp("input_ids"), exp("attention_mask"), exp("decoder_input_ids")).logits;
  EXPECT_TRUE(a.equal(b));
}

TEST_P(T5Parity, CachedDecodingEqualsFullDecoding) {
  torch::NoGradGuard ng;
  auto ids = exp("input_ids"), mask = exp("attention_mask"), dec = exp("decoder_input_ids");
  auto enc = model->encode(ids, mask);
  auto full = model->lm_logits(model->decode(dec, enc, mask));
  DecoderCache cache;
  std::vector<at::Tensor> steps;
  for (int64_t t = 0; t < dec.size(1); ++t)
    steps.push_back(model->lm_logits(model->decode(dec.narrow(1, t, 1), enc, mask, &cache)));
  EXPECT_LE(max_rel_diff(at::cat(steps, 1), full), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, T5Parity, ::testing::Values("t5-tiny", "t5-tiny-gated"),
                         [](const auto& info) { return info.param == "t5-tiny" ? "V1_0" : "V1_1Gated"; });

TEST(T5Loading, ReadsTorchZipLegacyAndShardedCheckpointsIdentically) {
  auto ref = load_t5(data_path("fixtures/t5-tiny"));
  auto ref_params = ref->named_parameters();
  for (const char* folder : {"fixtures/torch-bin", "fixtures/torch-bin/legacy", "fixtures/torch-bin/sharded"}) {
    auto m = load_t5(data_path(folder));
    for (const auto& p : m->named_parameters())
      EXPECT_TRUE(p.value().equal(ref_params[p.key()])) << folder << ": " << p.key();
  }
}

TEST(T5Loading, ConvertsHalfPrecisionCheckpointsToComputeDtype) {
  test::TempDir tmp;
  auto ref = load_t5(data_path("fixtures/t5-tiny"));
  std::vector<std::pair<std::string, at::Tensor>> half;
  for (auto& [n, t] : ref->hf_state_dict()) half.emplace_back(n, t.to(at::kBFloat16));
  io::save_safetensors(tmp / "model.safetensors", half);
  std::filesystem::copy_file(data_path("fixtures/t5-tiny/config.json"), tmp / "config.json");
  auto m = load_t5(tmp.str());
  EXPECT_EQ(m->shared->weight.scalar_type(), at::kFloat);
  EXPECT_TRUE(m->shared->weight.equal(ref->shared->weight.to(at::kBFloat16).to(at::kFloat)));
}

}  // namespace
}  // namespace bipeft::model
