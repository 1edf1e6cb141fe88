#include "bipeft/data/splits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "bipeft/data/task.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

/// n rows "r0".."r{n-1}", one example each (or `per_row` examples sharing the row's source).
std::vector<RowExamples> rows(size_t n, size_t per_row = 1) {
  std::vector<RowExamples> out;
  for (size_t i = 0; i < n; ++i) {
    RowExamples r;
    for (size_t k = 0; k < per_row; ++k) r.push_back(make_example("r" + std::to_string(i), std::to_string(k)));
    out.push_back(r);
  }
  return out;
}

std::vector<std::string> sources(const std::vector<Example>& v) {
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(e.source);
  return out;
}

std::set<std::string> source_set(const std::vector<Example>& v) {
  auto s = sources(v);
  return {s.begin(), s.end()};
}

TEST(DataSplits, PermutationIsDeterministicPerSeedAndDiffersAcrossSeeds) {
  const auto a = seeded_permutation(100, 7), b = seeded_permutation(100, 7), c = seeded_permutation(100, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) ASSERT_EQ(sorted[static_cast<size_t>(i)], i);
  EXPECT_TRUE(seeded_permutation(0, 1).empty());
  EXPECT_NE(derive_seed(42, 0), derive_seed(42, 1));
  EXPECT_EQ(derive_seed(42, 3), derive_seed(42, 3));
}

TEST(DataSplits, SmallTasksHalveTheValidationIntoDisjointDevAndTest) {
  const auto train = rows(7), validation = rows(11);
  const auto s = split_protocol(train, validation, /*large=*/false, 42);
  EXPECT_EQ(sources(s.train), sources(split_protocol(train, validation, false, 1).train));
  EXPECT_EQ(s.train.size(), 7u);
  EXPECT_EQ(s.train[0].source, "r0");  // train keeps file order
  EXPECT_EQ(s.dev.size(), 5u);         // floor(11 / 2)
  EXPECT_EQ(s.test.size(), 6u);
  auto dev = source_set(s.dev), test = source_set(s.test);
  for (const auto& x : dev) EXPECT_EQ(test.count(x), 0u) << x;
  EXPECT_EQ(dev.size() + test.size(), 11u);
  const auto again = split_protocol(train, validation, false, 42);
  EXPECT_EQ(sources(again.dev), sources(s.dev));
  const auto other = split_protocol(train, validation, false, 43);
  EXPECT_NE(sources(other.dev), sources(s.dev));
}

TEST(DataSplits, LargeTasksMoveTwoThousandTrainingRowsToDev) {
  const auto train = rows(5000), validation = rows(30);
  const auto s = split_protocol(train, validation, /*large=*/true, 42);
  EXPECT_EQ(s.dev.size(), 2000u);
  EXPECT_EQ(s.train.size(), 3000u);
  std::vector<Example> in_file_order;
  for (const auto& r : validation) in_file_order.push_back(r[0]);
  EXPECT_EQ(sources(s.test), sources(in_file_order));  // test = validation in file order
  auto dev = source_set(s.dev), tr = source_set(s.train);
  for (const auto& x : dev) ASSERT_EQ(tr.count(x), 0u) << x;
  EXPECT_EQ(dev.size() + tr.size(), 5000u);
  // Cut-down samples: dev is capped at half of the training rows.
  const auto small = split_protocol(rows(300), validation, true, 42);
  EXPECT_EQ(small.dev.size(), 150u);
  EXPECT_EQ(small.train.size(), 150u);
}

TEST(DataSplits, ExamplesOfOneRowStayTogether) {
  const auto s = split_protocol(rows(4), rows(10, /*per_row=*/3), false, 5);
  EXPECT_EQ(s.dev.size(), 15u);
  EXPECT_EQ(s.test.size(), 15u);
  auto dev = source_set(s.dev), test = source_set(s.test);
  EXPECT_EQ(dev.size(), 5u);
  for (const auto& x : dev) EXPECT_EQ(test.count(x), 0u);
}

TEST(DataSplits, SearchHalvesAreDisjointEqualAndDropTheOddOne) {
  std::vector<Example> train;
  for (const auto& r : rows(11)) train.push_back(r[0]);
  const auto h = search_halves(train, 42);
  EXPECT_EQ(h.search_train.size(), 5u);
  EXPECT_EQ(h.search_val.size(), 5u);
  auto a = source_set(h.search_train), b = source_set(h.search_val);
  for (const auto& x : a) EXPECT_EQ(b.count(x), 0u);
  EXPECT_EQ(sources(search_halves(train, 42).search_train), sources(h.search_train));
  EXPECT_NE(sources(search_halves(train, 7).search_train), sources(h.search_train));
}

TEST(DataSplits, LoadTaskSplitsDependOnTheSeedOnly) {
  const std::string dir = test::source_path("examples/data/rte");
  TaskOptions a, b, c;
  a.seed = b.seed = 1;
  c.seed = 2;
  const auto da = load_task("rte", dir, a), db = load_task("rte", dir, b), dc = load_task("rte", dir, c);
  EXPECT_EQ(sources(da.dev), sources(db.dev));
  EXPECT_EQ(sources(da.search_val), sources(db.search_val));
  EXPECT_NE(sources(da.dev), sources(dc.dev));
  EXPECT_EQ(sources(da.train), sources(dc.train));  // small task: train is the training file as is
  EXPECT_EQ(da.search_train.size(), 150u);
}

}  // namespace
}  // namespace bipeft::data
