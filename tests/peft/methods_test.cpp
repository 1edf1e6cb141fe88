// The PEFT method table: the paper's spaces and the shared-parameter flag are data of the table, and
// every position a space uses is one the method may attach to.
#include "bipeft/peft/methods.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::peft {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

TEST(PeftMethods, SpacesAndSharedParametersComeFromTheTable) {
  EXPECT_EQ(space_methods("s2"), (std::vector<std::string>{"lora", "adapter_lr", "bitfit", "lnfit"}));
  EXPECT_EQ(space_methods("s1"), (std::vector<std::string>{"serial_adapter", "parallel_adapter", "prefix"}));
  EXPECT_TRUE(space_methods("s3").empty());
  EXPECT_TRUE(uses_shared_params("prefix"));
  for (const auto& m : methods()) {
    EXPECT_EQ(uses_shared_params(m.name), m.name == "prefix") << m.name;
    EXPECT_TRUE(m.space == "s1" || m.space == "s2") << m.name;
    std::set<std::string> seen;
    for (const auto* list : {&m.space_positions, &m.cross_space_positions})
      for (const auto& p : *list) {
        EXPECT_TRUE(contains(m.positions, p)) << m.name << ": space position " << p << " is not one it attaches to";
        EXPECT_TRUE(seen.insert(p).second) << m.name << ": " << p << " twice";
      }
    for (const auto& p : m.cross_space_positions) EXPECT_EQ(p.rfind("cross", 0), 0u) << m.name << ": " << p;
  }
  EXPECT_THROW_WITH(uses_shared_params("dora"), ConfigError, "unknown PEFT method 'dora'");
}

}  // namespace
}  // namespace bipeft::peft
