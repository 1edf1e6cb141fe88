// The decision rules of early selection (ALGORITHM.md §7-§9) on small inputs worked out by hand.
#include "bipeft/search/selection.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace bipeft::search {
namespace {

TEST(SearchSelection, CosineOfIndicatorsAndZeroForAZeroVector) {
  EXPECT_DOUBLE_EQ(cosine({1, 0, 1}, {1, 1, 0}), 0.5);
  EXPECT_DOUBLE_EQ(cosine({1, 1, 0}, {1, 1, 0}), 1.0);
  EXPECT_DOUBLE_EQ(cosine({0, 0, 0}, {1, 1, 0}), 0.0);
}

TEST(SearchSelection, IndicatorTakesTheMostSensitiveModulesThatFitSkippingTheOthers) {
  // Order by sensitivity: 1 (0.9), 0 (0.5), 2 (0.1), then removed 3. Budget 8:
  // 1 fits (5), 0 does not (9 > 8) and is skipped, 2 fits (7), removed 3 (size 2) does not fit.
  EXPECT_EQ(importance_indicator({0.5, 0.9, 0.1, 0.7}, {false, false, false, true}, {4, 5, 2, 2}, 8),
            (std::vector<double>{0, 1, 1, 0}));
  // The walk stops once the budget is reached: with budget 7 module 3 (size 0) is never reached.
  EXPECT_EQ(importance_indicator({0.5, 0.9, 0.1, 0.7}, {false, false, false, true}, {4, 5, 2, 0}, 7),
            (std::vector<double>{0, 1, 1, 0}));
  // A removed module ranks below every kept one whatever its sensitivity.
  EXPECT_EQ(importance_indicator({0.1, 0.9}, {false, true}, {3, 3}, 3), (std::vector<double>{1, 0}));
  // A removed module is 0 even where its size (0 once removed) would fit: removals must not add a
  // shared 1 to every indicator (the official code's flaw, which makes stability climb by itself).
  EXPECT_EQ(importance_indicator({0.5, 0.9, 0.1, 0.7}, {false, false, false, true}, {4, 5, 2, 0}, 20),
            (std::vector<double>{1, 1, 1, 0}));
  EXPECT_EQ(importance_indicator({0.5, 0.2}, {true, true}, {0, 0}, 5), (std::vector<double>{0, 0}));
}

TEST(SearchSelection, TriggerNeedsMoreThanWindowIndicatorsAndAMeanCosineAboveThreshold) {
  TriggerDetector d(/*window=*/2, /*threshold=*/0.9);
  const std::vector<double> a{1, 1, 0}, b{1, 0, 1};
  double rho = 0;
  EXPECT_FALSE(d.update(a, &rho));
  EXPECT_TRUE(std::isnan(rho));
  EXPECT_FALSE(d.update(a, &rho));
  EXPECT_FALSE(d.update(a, &rho));  // |R| = 2 = window: not yet
  EXPECT_TRUE(std::isnan(rho));
  EXPECT_TRUE(d.update(a, &rho));  // mean of cos(a, a) twice = 1
  EXPECT_DOUBLE_EQ(rho, 1.0);
  EXPECT_FALSE(d.update(b, &rho));  // cos(b, a) = 0.5 twice
  EXPECT_DOUBLE_EQ(rho, 0.5);
  EXPECT_FALSE(d.update(a, &rho));  // (cos(a, a) + cos(a, b)) / 2
  EXPECT_DOUBLE_EQ(rho, 0.75);
  EXPECT_EQ(d.seen(), 6);
  EXPECT_EQ(d.recent().size(), 2u);
}

TEST(SearchSelection, RemovalAmountSpreadsTheExcessOverTheRemainingTriggers) {
  EXPECT_DOUBLE_EQ(removal_amount(1000, 400, 3), 200);
  EXPECT_DOUBLE_EQ(removal_amount(1000, 400, 1), 600);
  EXPECT_DOUBLE_EQ(removal_amount(300, 400, 2), -50);  // under budget: nothing to remove
}

TEST(SearchSelection, RemovalIsGreedyByAscendingSensitivityAndRemovesAtLeastOne) {
  const std::vector<double> s{0.3, 0.1, 0.2, 0.05};
  const std::vector<bool> removed{false, false, false, true}, all(4, true);
  const std::vector<double> sizes{50, 100, 30, 10};
  // 1 (100) fits in 120; 2 would make 130 and is skipped; 0 would make 150.
  EXPECT_EQ(modules_to_remove(s, removed, all, sizes, 120), (std::vector<size_t>{1}));
  // 1 does not fit in 80 but is removed anyway (first of this trigger); then the removed size exceeds delta.
  EXPECT_EQ(modules_to_remove(s, removed, all, sizes, 80), (std::vector<size_t>{1}));
  EXPECT_EQ(modules_to_remove(s, removed, all, sizes, 140), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(modules_to_remove(s, removed, all, sizes, 80, /*force_one=*/false), (std::vector<size_t>{2, 0}));
  EXPECT_EQ(modules_to_remove(s, removed, all, sizes, 35, /*force_one=*/false), (std::vector<size_t>{2}));
  EXPECT_TRUE(modules_to_remove(s, removed, all, sizes, 0).empty());
  EXPECT_TRUE(modules_to_remove(s, removed, all, sizes, -5).empty());
  // A module that may not be pruned is passed over.
  EXPECT_EQ(modules_to_remove(s, removed, {true, false, true, true}, sizes, 120), (std::vector<size_t>{2, 0}));
  // In order (ours): the scan stops at 1, which does not fit in 80, rather than removing the more
  // sensitive 2 and 0 behind it; forced, 1 goes alone.
  EXPECT_TRUE(modules_to_remove(s, removed, all, sizes, 80, /*force_one=*/false, /*in_order=*/true).empty());
  EXPECT_EQ(modules_to_remove(s, removed, all, sizes, 80, /*force_one=*/true, /*in_order=*/true), (std::vector<size_t>{1}));
  EXPECT_EQ(modules_to_remove(s, removed, all, sizes, 140, /*force_one=*/true, /*in_order=*/true), (std::vector<size_t>{1, 2}));
  // 1 (100) fits in 120, 2 would make 130: stop there (the paper's scan stops too, 0 making 150).
  EXPECT_EQ(modules_to_remove(s, removed, all, sizes, 120, /*force_one=*/true, /*in_order=*/true), (std::vector<size_t>{1}));
  // Sizes 10, 100, 30 ascending by sensitivity, delta 50: the paper takes 10 and 30 past the 100; in order stops at it.
  EXPECT_EQ(modules_to_remove({0.1, 0.2, 0.3}, {false, false, false}, {true, true, true}, {10, 100, 30}, 50),
            (std::vector<size_t>{0, 2}));
  EXPECT_EQ(modules_to_remove({0.1, 0.2, 0.3}, {false, false, false}, {true, true, true}, {10, 100, 30}, 50, true, true),
            (std::vector<size_t>{0}));
}

TEST(SearchSelection, RepairRemovesTheSmallestModuleThatCoversTheExcess) {
  const std::vector<double> s{0.3, 0.1, 0.2, 0.05, 0.4};
  const std::vector<bool> removed{false, false, false, true, false}, all(5, true);
  const std::vector<double> sizes{50, 100, 30, 10, 40};
  // Excess 35: modules 0 (50), 1 (100) and 4 (40) each cover it; 4 is the smallest.
  EXPECT_EQ(repair_to_budget(s, removed, all, sizes, 35), (std::vector<size_t>{4}));
  // Excess 150: nothing covers it alone; the least sensitive (1) goes, then 50 is left: 0 covers it.
  EXPECT_EQ(repair_to_budget(s, removed, all, sizes, 150), (std::vector<size_t>{1, 0}));
  EXPECT_TRUE(repair_to_budget(s, removed, all, sizes, 0).empty());
  // Equal sizes: the less sensitive one goes.
  EXPECT_EQ(repair_to_budget({0.5, 0.2}, {false, false}, {true, true}, {10, 10}, 5), (std::vector<size_t>{1}));
  // Nothing left to remove ends the repair.
  EXPECT_EQ(repair_to_budget({0.5}, {false}, {true}, {10}, 50), (std::vector<size_t>{0}));
}

TEST(SearchSelection, TheLastRemovalSwapsOneModuleForALargerOneWhenThatWastesLessThanTheRepair) {
  // Modules of 512, 512, 256, 768, 640 (sensitivity ascending by index); 3 was removed earlier.
  const std::vector<double> s{0.1, 0.2, 0.3, 0.05, 0.4, 0.5};
  const std::vector<bool> removed{false, false, false, true, false, false}, all(6, true);
  const std::vector<double> sizes{512, 512, 256, 768, 640, 512};
  // delta 1340: the scan takes 0 and 1 (1024); 2 would make 1280 too, so {0, 1, 2} = 1280, 60 short.
  const auto picked = modules_to_remove(s, removed, all, sizes, 1340, /*force_one=*/false);
  ASSERT_EQ(picked, (std::vector<size_t>{0, 1, 2}));
  // The repair would remove the 512 left (5: 452 wasted). Swaps: a 512 for 4 (640) covers the 60 with 68
  // wasted, 2 (256) for 4 with 324, 2 for 5 with 196. The least waste wins; of the two equal swaps the
  // one that puts back the more sensitive module (1) is made.
  EXPECT_EQ(close_last_removal(s, removed, all, sizes, 1340, picked), (std::vector<size_t>{0, 4, 2}));
  // Nothing short: unchanged.
  EXPECT_EQ(close_last_removal(s, removed, all, sizes, 1280, picked), picked);
  // No swap covers the gap with less waste than the repair (equal sizes): unchanged.
  const std::vector<double> even{100, 100, 100, 100, 100, 100};
  const std::vector<size_t> three{0, 1, 2};
  EXPECT_EQ(close_last_removal(s, removed, all, even, 350, three), three);
  // A module that may not be pruned is never taken.
  EXPECT_EQ(close_last_removal(s, removed, {true, true, true, true, false, true}, sizes, 1340, picked),
            (std::vector<size_t>{0, 1, 5}));
}

TEST(SearchSelection, BudgetFillGrowsTheMostSensitiveModuleFirstWhileItFitsAndLowersTheLeastSensitiveWhenOver) {
  // Two LoRA-like modules at ranks {1, 4, 8}: 10/40/80 and 20/80/160 parameters.
  const std::vector<std::vector<double>> counts{{10, 40, 80}, {20, 80, 160}};
  // Start at rank 1 for both (30 used). Module 1 is the more sensitive: 20->80 (90), 80->160 (170)
  // fits in 200, then module 0 10->40 (200) fits exactly, 40->80 (240) does not.
  EXPECT_EQ(fill_ranks_to_budget(counts, {0, 0}, {0.1, 0.9}, 200), (std::vector<int64_t>{1, 2}));
  // Room 120: module 1 to 80 (90); 80->160 would be 170 > 120, so module 0 grows to 40 (120).
  EXPECT_EQ(fill_ranks_to_budget(counts, {0, 0}, {0.1, 0.9}, 120), (std::vector<int64_t>{1, 1}));
  // Equal sensitivity: the lower index first.
  EXPECT_EQ(fill_ranks_to_budget(counts, {0, 0}, {0.5, 0.5}, 60), (std::vector<int64_t>{1, 0}));
  // Nothing fits: the start comes back.
  EXPECT_EQ(fill_ranks_to_budget(counts, {0, 0}, {0.1, 0.9}, 35), (std::vector<int64_t>{0, 0}));
  // A start above the room (240 > 100) is lowered, least sensitive first: module 0 80->40->10 (170),
  // then module 1 160->80 (90) fits; no raise fits after that (170, 120 > 100).
  EXPECT_EQ(fill_ranks_to_budget(counts, {2, 2}, {0.1, 0.9}, 100), (std::vector<int64_t>{0, 1}));
  // The same with the sensitivities swapped lowers module 1 first: 160->80->20 (100) fits.
  EXPECT_EQ(fill_ranks_to_budget(counts, {2, 2}, {0.9, 0.1}, 100), (std::vector<int64_t>{2, 0}));
  // Excess 30 (240 in 210): both steps down cover it; the smaller cut (module 0, 80->40) goes first,
  // although module 1 is the less sensitive one.
  EXPECT_EQ(fill_ranks_to_budget(counts, {2, 2}, {0.9, 0.1}, 210), (std::vector<int64_t>{1, 2}));
  // Even the smallest candidates exceed the room: they stay there (the repair removes a module).
  EXPECT_EQ(fill_ranks_to_budget(counts, {2, 2}, {0.1, 0.9}, 20), (std::vector<int64_t>{0, 0}));
  // A module already at its largest candidate stays; the other one takes the room.
  EXPECT_EQ(fill_ranks_to_budget(counts, {2, 0}, {0.9, 0.1}, 1000), (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(fill_ranks_to_budget({}, {}, {}, 100).empty());
}

TEST(SearchSelection, DimensionStabilityIsStdTimesKl) {
  // Module 0 moves from [0, 0] to [ln 3, 0]; module 1 never moves.
  auto h = at::zeros({2, 2, 2}, at::kDouble);
  h[1][0][0] = std::log(3.0);
  h[0][1][0] = 0.4;
  h[1][1][0] = 0.4;
  auto dsi = dimension_stability(h);
  ASSERT_EQ(dsi.size(), 2u);
  const double spread = (std::log(3.0) / std::sqrt(2.0) + 0.0) / 2.0;  // unbiased std per candidate, mean
  const double kl = 0.75 * std::log(0.75 / 0.5) + 0.25 * std::log(0.25 / 0.5);
  EXPECT_NEAR(dsi[0], spread * kl, 1e-12);
  EXPECT_DOUBLE_EQ(dsi[1], 0.0);
  EXPECT_THROW(dimension_stability(at::zeros({1, 2, 2})), c10::Error);
}

TEST(SearchSelection, DimensionAgreementIsTheCosineOfDimensionValues) {
  EXPECT_NEAR(dimension_agreement({8, 4, 0}, {8, 1, 0}), 68.0 / std::sqrt(80.0 * 65.0), 1e-12);
  EXPECT_DOUBLE_EQ(dimension_agreement({0, 0}, {4, 1}), 1.0);
}

TEST(SearchSelection, FixCountFollowsAgreementAndTheTriggersLeft) {
  EXPECT_EQ(fix_count(0.9, 10, 3), 3);   // floor(0.9 * 10 / 3)
  EXPECT_EQ(fix_count(0.5, 9, 4), 1);    // floor(1.125)
  EXPECT_EQ(fix_count(0.2, 9, 4), 0);
  EXPECT_EQ(fix_count(0.1, 7, 1), 7);    // one trigger left: all free dimensions
  EXPECT_EQ(fix_count(1.0, 7, 0), 0);    // the last trigger fixes nothing
}

TEST(SearchSelection, RankProbeTakesTheSmallestCandidateThatSavesTheShareOfTheBest) {
  // Off 2.0; candidates save 0.5, 1.7, 1.8 (the best). 0.85 x 1.8 = 1.53: candidate 1 (1.7) is enough.
  EXPECT_EQ(smallest_sufficient_candidate({2.0, 1.5, 0.3, 0.2}, 0.85), 1);
  // At share 0.95 (1.71) only the best saves enough.
  EXPECT_EQ(smallest_sufficient_candidate({2.0, 1.5, 0.3, 0.2}, 0.95), 2);
  // Share 1 takes the first of equal best candidates.
  EXPECT_EQ(smallest_sufficient_candidate({1.0, 0.4, 0.4, 0.4}, 1.0), 0);
  // The best saving need not be the largest candidate's: a larger rank that overfits loses.
  EXPECT_EQ(smallest_sufficient_candidate({1.0, 0.9, 0.2, 0.6}, 0.85), 1);
  // Nothing saves anything (the module hurts at every rank, or changes nothing): no choice.
  EXPECT_EQ(smallest_sufficient_candidate({1.0, 1.2, 1.1, 1.0}, 0.85), -1);
  EXPECT_EQ(smallest_sufficient_candidate({1.0, 0.5, NAN, 0.4}, 0.85), -1);
  EXPECT_EQ(smallest_sufficient_candidate({1.0}, 0.85), -1);
}

TEST(SearchSelection, StackBalancedScoresDivideByTheMedianOfTheKeptModulesOfTheirStack) {
  // Encoder: 1, 2, 4 kept (median 2) and one removed 100; decoder: 10, 30 kept (median 20); a stack with
  // median 0 keeps its scores.
  const std::vector<double> s{1, 2, 4, 100, 10, 30, 0, 0, 5};
  const std::vector<std::string> sites{"encoder.block.0.a", "encoder.block.1.a", "encoder.final_layer_norm",
                                       "encoder.block.2.a", "decoder.block.0.a", "decoder.block.1.a",
                                       "shared.x",          "shared.y",          "shared.z"};
  const std::vector<bool> removed{false, false, false, true, false, false, false, false, false};
  const auto b = stack_balanced_scores(s, sites, removed);
  const std::vector<double> want{0.5, 1.0, 2.0, 0.0, 0.5, 1.5, 0.0, 0.0, 5.0};
  ASSERT_EQ(b.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(b[i], want[i]) << i;
  EXPECT_THROW(stack_balanced_scores(s, {"encoder.a"}, removed), std::invalid_argument);
}

}  // namespace
}  // namespace bipeft::search
