// The default search schedule: the paper's epochs, raised until the K triggers fit.
#include "bipeft/search/search_options.h"

#include <gtest/gtest.h>

namespace bipeft::search {
namespace {

TEST(SearchOptions, DefaultScheduleRaisesTheEpochCapUntilTheTriggersFit) {
  SearchOptions o;  // K = 100, window 5, batch 32
  o.trigger_gap = 0;
  // SST-2: the paper's 5 epochs, prune begin 1. 67k rows -> 1,053 steps per epoch: enough.
  auto big = default_search_schedule("sst2", 33675, o);
  EXPECT_EQ(big.epochs, 5);
  EXPECT_EQ(big.prune_begin, 1);
  EXPECT_EQ(big.paper_epochs, 5);
  // 200 rows in the search's train half: 7 steps per epoch, 1 epoch before the triggers, then window + 1
  // and 2 * K steps: 7 + 6 + 200 = 213 steps -> 31 epochs.
  auto small = default_search_schedule("sst2", 200, o);
  EXPECT_EQ(small.epochs, 31);
  EXPECT_EQ(small.prune_begin, 1);
  EXPECT_GE(small.epochs * 7, steps_for_triggers(o, small.prune_begin, 7));
  // A trigger gap needs that many steps per trigger.
  o.trigger_gap = 3;
  EXPECT_EQ(steps_for_triggers(o, 1, 7), 7 + 6 + 600);
  // The user's --epochs (and --prune-begin-epoch) win.
  auto given = default_search_schedule("sst2", 200, o, 4);
  EXPECT_EQ(given.epochs, 4);
  EXPECT_EQ(given.prune_begin, 1);
  EXPECT_EQ(default_search_schedule("rte", 200, o, 4, 0).prune_begin, 0);
  EXPECT_EQ(default_search_schedule("rte", 200, o, 1).prune_begin, 0) << "prune begin below the cap";
}

TEST(SearchOptions, SpreadTriggerGapIsHalfTheStepsAfterPruneBeginOverK) {
  SearchOptions o;
  o.epochs = 8;
  o.prune_begin_epoch = 1;
  o.max_triggers = 20;
  EXPECT_EQ(o.trigger_gap, kTriggerGapSpread) << "spread by default";
  o.trigger_gap = 0;
  EXPECT_EQ(effective_trigger_gap(o, 63), 0) << "the code's rule";
  o.trigger_gap = 5;
  EXPECT_EQ(effective_trigger_gap(o, 63), 5);
  o.trigger_gap = kTriggerGapSpread;
  EXPECT_EQ(effective_trigger_gap(o, 63), 7 * 63 / 40);  // 441 steps after prune-begin -> 11
  o.prune_begin_epoch = 4;
  EXPECT_EQ(effective_trigger_gap(o, 63), 4 * 63 / 40);
  EXPECT_EQ(effective_trigger_gap(o, 2), 0) << "fewer steps than 2K: consecutive triggers";
  // It adapts to the steps there are, so the schedule counts it as one step per trigger.
  EXPECT_EQ(steps_for_triggers(o, 1, 7), 7 + 6 + 40);
}

}  // namespace
}  // namespace bipeft::search
