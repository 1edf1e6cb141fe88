// Search spaces: which modules each space places, and the --positions filter.
#include "bipeft/search/space.h"

#include <gtest/gtest.h>

#include <set>

#include "bipeft/core/error.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::search {
namespace {

std::set<std::string> positions_of(const peft::Structure& s, const std::vector<model::SiteInfo>& sites) {
  std::set<std::string> out;
  for (const auto& m : s.modules)
    for (const auto& site : sites)
      if (site.name == m.site) out.insert(m.method + ":" + site.position);
  return out;
}

TEST(SearchSpace, PositionsKeepOnlyTheNamedPositionsOfEveryBlock) {
  auto bb = test::tiny_t5_with_real_vocab(1);
  SpaceOptions all{"lora", {1, 4}, false, {}};
  SpaceOptions qv{"lora", {1, 4}, false, {"q", "v"}};
  const auto whole = build_space(all, bb->sites()), some = build_space(qv, bb->sites());
  EXPECT_EQ(positions_of(whole, bb->sites()),
            (std::set<std::string>{"lora:q", "lora:k", "lora:v", "lora:o", "lora:wi", "lora:wo"}));
  EXPECT_EQ(positions_of(some, bb->sites()), (std::set<std::string>{"lora:q", "lora:v"}));
  EXPECT_EQ(some.modules.size() * 3, whole.modules.size()) << "2 of the 6 LoRA positions in every block";
  for (const auto& m : some.modules) EXPECT_EQ(m.rank, 4);
  // In s2 a position applies to every method placed there: BitFit on q,v too, no Adapter-LR or LNFit.
  SpaceOptions s2qv{"s2", {1, 4}, false, {"q", "v"}};
  EXPECT_EQ(positions_of(build_space(s2qv, bb->sites()), bb->sites()),
            (std::set<std::string>{"lora:q", "lora:v", "bitfit:q", "bitfit:v"}));
}

TEST(SearchSpace, APositionOutsideTheSpaceIsAnError) {
  auto bb = test::tiny_t5_with_real_vocab(1);
  SpaceOptions bad{"lora", {1, 4}, false, {"q", "ffn"}};
  EXPECT_THROW_WITH(build_space(bad, bb->sites()), ConfigError, "SpaceOptions.positions 'ffn' is not a position of space 'lora'");
  SpaceOptions typo{"s2", {1, 4}, false, {"qq"}};
  EXPECT_THROW_WITH(build_space(typo, bb->sites()), ConfigError, "'qq'");
}

}  // namespace
}  // namespace bipeft::search
