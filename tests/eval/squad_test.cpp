#include "bipeft/eval/squad.h"

#include <gtest/gtest.h>

namespace bipeft::eval {
namespace {

TEST(MetricsSquad, NormalisationLowercasesAndDropsPunctuationAndArticles) {
  EXPECT_EQ(normalize_squad("The  Cat's hat!"), "cats hat");
  EXPECT_EQ(normalize_squad("An apple a day"), "apple day");
  EXPECT_EQ(normalize_squad("theatre anthem"), "theatre anthem");  // articles only as whole words
  EXPECT_EQ(normalize_squad("a-the"), "athe");                     // punctuation goes first
  EXPECT_EQ(normalize_squad("  "), "");
  EXPECT_EQ(normalize_squad("Zo\xC3\xAB the Ball"), "zo\xC3\xAB ball");
}

TEST(MetricsSquad, TokenF1CountsSharedTokensOnce) {
  EXPECT_NEAR(squad_f1("the cat sat", "a cat sat down"), 0.8, 1e-12);
  EXPECT_NEAR(squad_f1("cat cat", "cat"), 2 * 0.5 * 1.0 / 1.5, 1e-12);
  EXPECT_DOUBLE_EQ(squad_f1("", ""), 0.0);
  EXPECT_DOUBLE_EQ(squad_exact("", "the"), 1.0);
  EXPECT_DOUBLE_EQ(squad_exact("Messi", "Lionel Messi"), 0.0);
}

}  // namespace
}  // namespace bipeft::eval
