#include "bipeft/search/budget.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::search {
namespace {

constexpr int64_t kT5Large = 737639424;  // ALGORITHM.md §1

TEST(SearchBudget, CountsAndRatiosInEveryUnitGiveTheSameParameters) {
  EXPECT_DOUBLE_EQ(parse_budget("102600", kT5Large).params, 102600);
  const double r = std::floor(1.39e-4 * kT5Large);
  EXPECT_DOUBLE_EQ(parse_budget("1.39e-4", kT5Large).params, r);
  EXPECT_DOUBLE_EQ(parse_budget("1.39permyriad", kT5Large).params, r);
  EXPECT_DOUBLE_EQ(parse_budget("1.39\u2031", kT5Large).params, r);
  EXPECT_DOUBLE_EQ(parse_budget("1.39%%", kT5Large).params, r);
  EXPECT_NEAR(parse_budget("0.0139%", kT5Large).params, r, 1.0);
  EXPECT_NE(parse_budget("102600", kT5Large).describe(kT5Large).find("1.391\u2031"), std::string::npos);
}

TEST(SearchBudget, GarbageZeroAndNegativeBudgetsAreConfigErrors) {
  EXPECT_THROW_WITH(parse_budget("lots", kT5Large), ConfigError, "give a parameter count");
  EXPECT_THROW_WITH(parse_budget("12 apples", kT5Large), ConfigError, "is not a budget");
  EXPECT_THROW_WITH(parse_budget("0", kT5Large), ConfigError, "positive");
  EXPECT_THROW_WITH(parse_budget("-5", kT5Large), ConfigError, "positive");
  EXPECT_THROW_WITH(parse_budget("1e-12", 1000), ConfigError, "less than one parameter");
}

}  // namespace
}  // namespace bipeft::search
