// T5 span corruption: the noise mask's counts and layout, the input/target construction worked out by
// hand, the round trip (inputs + targets give back the tokens) and bad arguments.
#include "bipeft/data/span_corruption.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "bipeft/core/error.h"

namespace bipeft::data {
namespace {

constexpr int64_t kS0 = 32099, kEos = 1;

TEST(SpanCorruption, InputsAndTargetsWorkedOutByHand) {
  // tokens 10..15, hide {11,12} and {15}: two spans, sentinels <extra_id_0> = 32099, <extra_id_1> = 32098.
  const auto c = corrupt_spans({10, 11, 12, 13, 14, 15}, {false, true, true, false, false, true}, kS0, 100, kEos);
  EXPECT_EQ(c.input_ids, (std::vector<int64_t>{10, kS0, 13, 14, kS0 - 1, kEos}));
  EXPECT_EQ(c.target_ids, (std::vector<int64_t>{kS0, 11, 12, kS0 - 1, 15, kEos}));
}

TEST(SpanCorruption, MaskHasTheT5CountsAndStartsWithKeptTokens) {
  SpanCorruptionOptions o;  // 15%, mean span 3
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const auto mask = random_spans_noise_mask(128, o, seed);
    ASSERT_EQ(mask.size(), 128u);
    int64_t noise = 0, spans = 0;
    for (size_t i = 0; i < mask.size(); ++i) {
      noise += mask[i];
      if (mask[i] && (i == 0 || !mask[i - 1])) ++spans;
    }
    EXPECT_EQ(noise, 19);  // round(128 * 0.15)
    EXPECT_EQ(spans, 6);   // round(19 / 3)
    EXPECT_FALSE(mask.front());
    EXPECT_TRUE(mask.back());  // non-noise and noise spans alternate, noise last
  }
}

TEST(SpanCorruption, SeedFixesTheMask) {
  SpanCorruptionOptions o;
  EXPECT_EQ(random_spans_noise_mask(100, o, 7), random_spans_noise_mask(100, o, 7));
  int differ = 0;
  for (uint64_t s = 1; s < 20; ++s) differ += random_spans_noise_mask(100, o, s) != random_spans_noise_mask(100, o, 0);
  EXPECT_GE(differ, 17);
}

TEST(SpanCorruption, ShortSequencesKeepOneTokenOfEachKind) {
  SpanCorruptionOptions o;
  const auto m2 = random_spans_noise_mask(2, o, 3);
  EXPECT_EQ(m2, (std::vector<bool>{false, true}));
  o.noise_density = 0.9;
  const auto m5 = random_spans_noise_mask(5, o, 3);
  EXPECT_FALSE(m5.front());
  EXPECT_EQ(std::count(m5.begin(), m5.end(), true), 4);
}

TEST(SpanCorruption, InputsAndTargetsTogetherGiveBackTheTokens) {
  SpanCorruptionOptions o;
  o.noise_density = 0.3;
  o.mean_span_length = 2.5;
  std::vector<int64_t> tokens;
  for (int64_t i = 0; i < 77; ++i) tokens.push_back(100 + i);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const auto c = corrupt_spans(tokens, random_spans_noise_mask(77, o, seed), kS0, 100, kEos);
    // Replace each sentinel in the input by the tokens that follow it in the target.
    std::vector<int64_t> rebuilt;
    for (int64_t id : c.input_ids) {
      if (id == kEos) break;
      if (id > kS0 - 100 && id <= kS0) {
        auto at = std::find(c.target_ids.begin(), c.target_ids.end(), id);
        ASSERT_NE(at, c.target_ids.end());
        for (++at; at != c.target_ids.end() && *at != kEos && !(*at > kS0 - 100 && *at <= kS0); ++at) rebuilt.push_back(*at);
      } else {
        rebuilt.push_back(id);
      }
    }
    EXPECT_EQ(rebuilt, tokens) << "seed " << seed;
    EXPECT_EQ(c.input_ids.back(), kEos);
    EXPECT_EQ(c.target_ids.back(), kEos);
  }
}

TEST(SpanCorruption, BadArgumentsAreConfigErrors) {
  SpanCorruptionOptions o;
  EXPECT_THROW(random_spans_noise_mask(1, o, 0), ConfigError);
  o.noise_density = 0;
  EXPECT_THROW(random_spans_noise_mask(10, o, 0), ConfigError);
  o.noise_density = 0.15;
  o.mean_span_length = 0.5;
  EXPECT_THROW(random_spans_noise_mask(10, o, 0), ConfigError);
  EXPECT_THROW(corrupt_spans({1, 2, 3}, {false, true}, kS0, 100, kEos), ConfigError);
  // Three hidden spans but only two sentinels.
  EXPECT_THROW(corrupt_spans({5, 6, 7, 8, 9, 10}, {true, false, true, false, true, false}, kS0, 2, kEos), ConfigError);
}

}  // namespace
}  // namespace bipeft::data
