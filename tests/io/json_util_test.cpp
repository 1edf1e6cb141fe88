// JSON helpers: every malformed number ends as a FormatError naming the file and field.
#include "bipeft/io/json_util.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::io {
namespace {

TEST(JsonUtil, NumberTooLargeForADoubleIsAFormatError) {
  // nlohmann::json throws out_of_range (not parse_error) for it; that used to escape parse_json.
  EXPECT_THROW_WITH(parse_json(R"({"d_ff": 1e+1300})", "config.json"), FormatError, "config.json: not valid JSON");
}

TEST(JsonUtil, IntegersOutsideInt64AreRejectedNotWrappedOrCast) {
  const auto j = parse_json(R"({"big": 18446744073709551615, "huge": 1e300, "edge": 9223372036854775807,
                                "neg": -9223372036854775808, "two": 2.0, "half": 2.5, "f": 9.3e18})",
                            "c.json");
  EXPECT_THROW_WITH(json_required<int64_t>(j, "big", "c.json"), FormatError, "field 'big' must be an integer");
  EXPECT_THROW_WITH(json_required<int64_t>(j, "huge", "c.json"), FormatError, "field 'huge' must be an integer");
  EXPECT_THROW_WITH(json_required<int64_t>(j, "f", "c.json"), FormatError, "field 'f' must be an integer");
  EXPECT_THROW_WITH(json_required<int64_t>(j, "half", "c.json"), FormatError, "field 'half' must be an integer");
  EXPECT_EQ(json_required<int64_t>(j, "edge", "c.json"), INT64_MAX);
  EXPECT_EQ(json_required<int64_t>(j, "neg", "c.json"), INT64_MIN);
  EXPECT_EQ(json_required<int64_t>(j, "two", "c.json"), 2);
  EXPECT_EQ(json_optional<int64_t>(j, "missing", 7, "c.json"), 7);
}

}  // namespace
}  // namespace bipeft::io
