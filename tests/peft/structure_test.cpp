// structure.json parsing: sizes that would only allocate absurd modules are refused while parsing.
#include "bipeft/peft/structure.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::peft {
namespace {

nlohmann::json structure_with(const nlohmann::json& module, const nlohmann::json& options = nlohmann::json::object()) {
  return {{"format", "bipeft-structure"}, {"version", 1}, {"options", options}, {"modules", {module}}};
}

const char* kQ = "encoder.block.0.layer.0.SelfAttention.q";

TEST(Structure, RanksAndPrefixSizesAreBoundedBeforeAnythingIsAllocated) {
  auto s = Structure::from_json(structure_with({{"module", kQ}, {"method", "lora"}, {"rank", 65536}}), "s.json");
  EXPECT_EQ(s.modules.at(0).rank, 65536);
  EXPECT_THROW_WITH(
      Structure::from_json(structure_with({{"module", kQ}, {"method", "lora"}, {"rank", int64_t{1} << 40}}), "s.json"),
      FormatError, "s.json modules[0]: rank 1099511627776 is larger than 65536");
  EXPECT_THROW_WITH(Structure::from_json(structure_with({{"module", kQ}, {"method", "lora"}, {"rank", 8}},
                                                        {{"prefix_length_max", 1000000}}),
                                         "s.json"),
                    FormatError, "s.json options: prefix_length_max 1000000 is larger than 65536");
  EXPECT_THROW_WITH(
      Structure::from_json(structure_with({{"module", kQ}, {"method", "lora"}, {"rank", 1e300}}), "s.json"),
      FormatError, "field 'rank' must be an integer");
}

TEST(Structure, JsonRoundTripIsExact) {
  auto s = Structure::from_json(structure_with({{"module", kQ}, {"method", "lora"}, {"rank", 4}}, {{"prefix_mid", 3}}),
                                "s.json");
  EXPECT_EQ(Structure::from_json(s.to_json(), "again").to_json(), s.to_json());
}

}  // namespace
}  // namespace bipeft::peft
