#include "bipeft/model/t5_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "bipeft/core/error.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/io/safetensors.h"
#include "test_util.h"

namespace bipeft::model {
namespace {

nlohmann::json tiny() {
  return nlohmann::json::parse(R"({"model_type":"t5","vocab_size":32,"d_model":8,"d_kv":4,"d_ff":16,
                                   "num_layers":1,"num_heads":2})");
}

TEST(T5Config, OldConfigsWithoutNewerFieldsTakeTransformersDefaults) {
  auto c = T5Config::from_json(tiny(), "config.json");
  EXPECT_FALSE(c.gated_ffn);
  EXPECT_EQ(c.activation, Activation::Relu);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.num_decoder_layers, 1);
  EXPECT_EQ(c.relative_attention_max_distance, 128);
}

TEST(T5Config, GatedGeluIsTheTanhApproximation) {
  auto j = tiny();
  j["feed_forward_proj"] = "gated-gelu";
  auto c = T5Config::from_json(j, "config.json");
  EXPECT_TRUE(c.gated_ffn);
  EXPECT_EQ(c.activation, Activation::GeluNew);
  EXPECT_EQ(c.feed_forward_proj(), "gated-gelu");
}

TEST(T5Config, OtherModelTypeIsRejected) {
  auto j = tiny();
  j["model_type"] = "bart";
  EXPECT_THROW_WITH(T5Config::from_json(j, "config.json"), FormatError, "model_type 'bart'");
}

TEST(T5Config, MissingRequiredFieldIsNamed) {
  auto j = tiny();
  j.erase("d_kv");
  EXPECT_THROW_WITH(T5Config::from_json(j, "m/config.json"), FormatError, "m/config.json: missing field 'd_kv'");
}

TEST(T5Config, WrongTypeIsNamed) {
  auto j = tiny();
  j["d_model"] = "large";
  EXPECT_THROW_WITH(T5Config::from_json(j, "config.json"), FormatError, "field 'd_model' must be an integer");
}

TEST(T5Config, NonJsonConfigIsAFormatError) {
  test::TempDir tmp;
  std::ofstream(tmp / "config.json") << "{ model_type: t5";
  EXPECT_THROW_WITH(T5Config::from_dir(tmp.str()), FormatError, "not valid JSON");
}

TEST(T5Config, JsonRoundTripKeepsTheMath) {
  auto j = tiny();
  j["feed_forward_proj"] = "gated-gelu";
  j["tie_word_embeddings"] = false;
  auto c = T5Config::from_json(j, "a");
  auto c2 = T5Config::from_json(c.to_json(), "b");
  EXPECT_EQ(c2.to_json(), c.to_json());
}

TEST(T5Config, SizesBeyondAnyT5AreRejectedSoProductsCannotOverflow) {
  // num_heads * d_kv (inner_dim) used to overflow int64 for sizes like these.
  auto j = tiny();
  j["num_heads"] = int64_t{1} << 40;
  j["d_kv"] = int64_t{1} << 40;
  EXPECT_THROW_WITH(T5Config::from_json(j, "config.json"), FormatError, "config.json: d_kv 1099511627776 is larger than");
  j = tiny();
  j["num_layers"] = 100000;
  EXPECT_THROW_WITH(T5Config::from_json(j, "config.json"), FormatError, "num_layers 100000 is larger than 4096");
  j = tiny();
  j["vocab_size"] = 250112;  // mT5
  j["d_ff"] = 65536;         // t5-11b
  j["num_heads"] = 128;
  j["d_kv"] = 128;
  EXPECT_EQ(T5Config::from_json(j, "config.json").inner_dim(), 128 * 128);
}

TEST(T5Config, HugeOrNonIntegralNumbersAreFormatErrors) {
  auto j = tiny();
  j["d_ff"] = 1e300;  // casting this to int64 was undefined behaviour
  EXPECT_THROW_WITH(T5Config::from_json(j, "config.json"), FormatError, "field 'd_ff' must be an integer");
  j["d_ff"] = 18446744073709551615ull;  // used to wrap to -1
  EXPECT_THROW_WITH(T5Config::from_json(j, "config.json"), FormatError, "field 'd_ff' must be an integer");
}

TEST(T5Weights, MissingUnexpectedAndMismatchedTensorsAreListedTogether) {
  test::TempDir tmp;
  auto src = load_t5(test::data_path("fixtures/t5-tiny"));
  io::NamedTensors ts;
  for (auto& [n, t] : src->hf_state_dict()) {
    if (n == "encoder.final_layer_norm.weight") continue;                       // missing
    if (n == "decoder.block.0.layer.0.SelfAttention.q.weight") t = t.narrow(0, 0, 8);  // mismatched
    ts.emplace_back(n, t);
  }
  ts.emplace_back("encoder.block.9.layer.0.SelfAttention.q.weight", at::zeros({2}));  // unexpected
  io::save_safetensors(tmp / "model.safetensors", ts);
  std::filesystem::copy_file(test::data_path("fixtures/t5-tiny/config.json"), tmp / "config.json");
  try {
    load_t5(tmp.str());
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("missing (1):\n    encoder.final_layer_norm.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected (1):\n    encoder.block.9"), std::string::npos) << m;
    EXPECT_NE(m.find("decoder.block.0.layer.0.SelfAttention.q.weight is [8, 64]"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace bipeft::model
