// adapter_config.json parsing and PEFT's matching rules for target_modules, rank_pattern and alpha_pattern.
#include <gtest/gtest.h>

#include <cmath>

#include "bipeft/core/error.h"
#include "bipeft/export/hf_peft_config.h"
#include "test_util.h"
#include "export/site_names.h"

namespace bipeft::exporter {
namespace {

const std::string kWo = "decoder.block.1.layer.2.DenseReluDense.wo";

TEST(HfPeftConfig, ListTargetsMatchExactNamesAndDottedSuffixes) {
  auto c = HfPeftConfig::parse(R"({"peft_type": "LORA", "target_modules": ["q", "v"]})", "cfg");
  EXPECT_TRUE(c.targets(kEncQ));
  EXPECT_TRUE(c.targets(kDec1CrossQ));
  EXPECT_FALSE(c.targets(kWo));
  EXPECT_FALSE(c.targets("encoder.block.0.layer.0.SelfAttention.qq"));
  auto full = HfPeftConfig::parse(R"({"peft_type": "LORA", "target_modules": [")" + kEncQ + R"("]})", "cfg");
  EXPECT_TRUE(full.targets(kEncQ));
  EXPECT_FALSE(full.targets(kDec1CrossQ));
}

TEST(HfPeftConfig, RegexTargetsMustMatchTheWholeName) {
  auto c = HfPeftConfig::parse(R"j({"peft_type": "LORA", "target_modules": ".*decoder.*\\.(q|v)"})j", "cfg");
  EXPECT_TRUE(c.targets(kDec1CrossQ));
  EXPECT_FALSE(c.targets(kEncQ));
  EXPECT_FALSE(c.targets(kWo));
}

TEST(HfPeftConfig, FirstMatchingPatternKeyWinsInFileOrder) {
  // "q" would match both q modules; the more specific key comes first in the file and wins for kEncQ.
  auto c = HfPeftConfig::parse(R"({"peft_type": "LORA", "r": 8, "lora_alpha": 16,
      "rank_pattern": {"encoder.block.0.layer.0.SelfAttention.q": 2, "q": 4},
      "alpha_pattern": {"EncDecAttention.q": 3}})",
                               "cfg");
  EXPECT_EQ(c.rank_of(kEncQ), 2);
  EXPECT_EQ(c.rank_of(kDec1CrossQ), 4);
  EXPECT_EQ(c.rank_of(kWo), 8);
  EXPECT_DOUBLE_EQ(c.alpha_of(kEncQ), 16.0);
  EXPECT_DOUBLE_EQ(c.alpha_of(kDec1CrossQ), 3.0);
  EXPECT_DOUBLE_EQ(c.scaling_of(kEncQ), 8.0);
  EXPECT_DOUBLE_EQ(c.scaling_of(kDec1CrossQ), 0.75);
  EXPECT_DOUBLE_EQ(c.scaling_of(kWo), 2.0);
}

TEST(HfPeftConfig, PatternKeysAreAnchoredAtADotBoundaryAndTheEnd) {
  EXPECT_TRUE(pattern_key_matches("q", kEncQ, "t"));
  EXPECT_TRUE(pattern_key_matches("SelfAttention.q", kEncQ, "t"));
  EXPECT_TRUE(pattern_key_matches(kEncQ, kEncQ, "t"));
  EXPECT_FALSE(pattern_key_matches("Attention.q", kEncQ, "t"));  // must start after a dot
  EXPECT_FALSE(pattern_key_matches("SelfAttention", kEncQ, "t"));  // must reach the end
  EXPECT_FALSE(pattern_key_matches("encoder.block.1.layer.0.SelfAttention.q", kEncQ, "t"));
  EXPECT_THROW_WITH(pattern_key_matches("q(", kEncQ, "cfg"), FormatError, "cfg: pattern key 'q(' is not a valid");
}

TEST(HfPeftConfig, RsLoraScalesByTheSquareRootOfTheRank) {
  auto c = HfPeftConfig::parse(R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_rslora": true})", "cfg");
  EXPECT_DOUBLE_EQ(c.scaling_of(kEncQ), 4.0);
}

TEST(HfPeftConfig, UnsupportedLoraOptionsAreFormatErrorsNamingTheField) {
  auto parse = [](const std::string& extra) {
    return HfPeftConfig::parse(R"({"peft_type": "LORA", )" + extra + "}", "a/adapter_config.json");
  };
  EXPECT_THROW_WITH(parse(R"("fan_in_fan_out": true)"), FormatError, "fan_in_fan_out is true");
  EXPECT_THROW_WITH(parse(R"("bias": "all")"), FormatError, "bias is \"all\"");
  EXPECT_THROW_WITH(parse(R"("use_dora": true)"), FormatError, "DoRA");
  EXPECT_THROW_WITH(parse(R"("r": 0)"), FormatError, "'r' is 0");
  EXPECT_THROW_WITH(parse(R"("rank_pattern": {"q": -1})"), FormatError, "rank_pattern['q'] is -1");
  EXPECT_THROW_WITH(parse(R"("lora_alpha": "8")"), FormatError, "'lora_alpha' must be a number");
  EXPECT_THROW_WITH(parse(R"("modules_to_save": ["lm_head"])"), FormatError, "modules_to_save");
  EXPECT_THROW_WITH(parse(R"("target_modules": 3)"), FormatError, "target_modules must be a list");
  EXPECT_NO_THROW(parse(R"("modules_to_save": null, "bias": "none", "layers_pattern": null)"));
}

TEST(HfPeftConfig, NotJsonOrNoPeftTypeIsAFormatError) {
  EXPECT_THROW_WITH(HfPeftConfig::parse("{\"peft_type\": ", "x/adapter_config.json"), FormatError,
                    "x/adapter_config.json: not valid JSON");
  EXPECT_THROW_WITH(HfPeftConfig::parse("[1]", "c.json"), FormatError, "c.json: expected a JSON object");
  EXPECT_THROW_WITH(HfPeftConfig::parse(R"({"r": 4})", "c.json"), FormatError, "c.json: missing 'peft_type'");
}

TEST(HfPeftConfig, RanksMustBeIntegersThatFitInt64) {
  auto parse = [](const std::string& r) { return HfPeftConfig::parse(R"({"peft_type": "LORA", "r": )" + r + "}", "cfg"); };
  EXPECT_THROW_WITH(parse("1e300"), FormatError, "'r' must be an integer");                 // was an undefined cast
  EXPECT_THROW_WITH(parse("18446744073709551615"), FormatError, "'r' must be an integer");  // was an undefined cast
  EXPECT_EQ(parse("9007199254740993").r, 9007199254740993);  // 2^53 + 1: exact, no trip through double
  EXPECT_EQ(parse("16.0").r, 16);
  EXPECT_THROW_WITH(parse("1e+400"), FormatError, "cfg: not valid JSON");  // out_of_range used to escape
}

TEST(HfPeftConfig, PatternsThatWouldOverflowTheStackOrRunForeverAreRefusedOrCheap) {
  auto with_target = [](const std::string& regex) {
    return HfPeftConfig::parse(R"({"peft_type": "LORA", "target_modules": ")" + regex + R"("})", "cfg");
  };
  // libstdc++ compiles recursively: 20,000 nested groups or ~100,000 terms crash with a stack overflow.
  EXPECT_THROW_WITH(with_target(std::string(40, '(') + "q" + std::string(40, ')')), FormatError,
                    "groups nested more than 32 deep");
  EXPECT_THROW_WITH(with_target(std::string(5000, 'q')), FormatError, "longer than 1024 characters");
  EXPECT_THROW_WITH(
      HfPeftConfig::parse(R"({"peft_type": "LORA", "rank_pattern": {")" + std::string(2000, 'a') + R"(": 4}})", "cfg"),
      FormatError, "pattern key");
  // Exponential in the name length for a backtracking matcher (it never returned); breadth-first is instant.
  auto c = with_target("(.*)*x");
  EXPECT_FALSE(c.targets("encoder.block.0.layer.0.SelfAttention.qqqqqqqqqqqqqqqqqqqq"));
  EXPECT_TRUE(with_target(".*(q|v)$").targets(kEncQ));
  EXPECT_THROW_WITH(with_target("(q)\\\\1"), FormatError, "is not a valid regular expression");  // back-reference
}

}  // namespace
}  // namespace bipeft::exporter
