// The baselines' defining behaviour on small inputs and on a tiny model: S3Delta's shift solves
// sum p n = B and its structure fits the budget; PrunePEFT's kept size follows the schedule down to
// the budget and never grows back; the random structure fills the budget; dispatch by name.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "bipeft/baselines/autopeft.h"
#include "bipeft/baselines/comparison.h"
#include "bipeft/baselines/prune_peft.h"
#include "bipeft/baselines/random_structure.h"
#include "bipeft/baselines/s3delta.h"
#include "bipeft/baselines/search_method.h"
#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "bipeft/search/search_data.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::baselines {
namespace {

double mass(const std::vector<double>& a, const std::vector<double>& n, double b, double t) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += n[i] / (1.0 + std::exp(-(a[i] - b) / t));
  return s;
}

TEST(S3Delta, ShiftOfEqualLogitsAtHalfTheSpaceIsTheLogit) {
  // sigmoid((0.3 - b) / 1) = 1/2 for every module exactly when b = 0.3.
  EXPECT_NEAR(solve_shift({0.3, 0.3, 0.3, 0.3}, {10, 20, 30, 40}, 50, 1.0), 0.3, 1e-9);
}

TEST(S3Delta, ShiftSolvesTheBudgetEquation) {
  const std::vector<double> a = {2.0, -1.0, 0.5, 7.0, -3.0, 0.0}, n = {100, 3000, 48, 512, 64, 9000};
  const double total = std::accumulate(n.begin(), n.end(), 0.0);
  for (double budget : {10.0, 777.0, 5000.0, total - 1}) {
    for (double t : {0.1, 1.0, 5.0}) {
      const double b = solve_shift(a, n, budget, t);
      EXPECT_NEAR(mass(a, n, b, t), budget, 1e-6 * budget) << "budget " << budget << " t " << t;
    }
  }
  EXPECT_THROW(solve_shift(a, n, total, 1.0), ConfigError);
  EXPECT_THROW(solve_shift(a, n, 0, 1.0), ConfigError);
}

TEST(S3Delta, GreedySelectionTakesTheMostProbableModulesThatFit) {
  // p order: 2 (0.9), 0 (0.8), 3 (0.5), 1 (0.1); sizes 40, 10, 70, 30; budget 100:
  // 2 (70) fits, 0 (40) does not, 3 (30) fits -> 100, 1 (10) does not.
  EXPECT_EQ(greedy_by_probability({0.8, 0.1, 0.9, 0.5}, {40, 10, 70, 30}, 100), (std::vector<size_t>{2, 3}));
}

TEST(PrunePeft, CubicScheduleRunsFromTheSpaceToTheBudget) {
  EXPECT_EQ(cubic_target(1000, 100, 5, 10, 20), 1000);
  EXPECT_EQ(cubic_target(1000, 100, 10, 10, 20), 1000);
  EXPECT_DOUBLE_EQ(cubic_target(1000, 100, 15, 10, 20), 100 + 900 * 0.125);
  EXPECT_EQ(cubic_target(1000, 100, 20, 10, 20), 100);
  EXPECT_EQ(cubic_target(1000, 100, 99, 10, 20), 100);
}

TEST(SearchMethod, NamesAndAliases) {
  EXPECT_EQ(canonical_search_method("BIPEFT"), "bipeft");
  EXPECT_EQ(canonical_search_method("Delta-M"), "s3delta");
  EXPECT_EQ(canonical_search_method("prune-peft"), "prunepeft");
  EXPECT_EQ(canonical_search_method("random"), "random");
  EXPECT_THROW_WITH(canonical_search_method("autopeftx"), ConfigError, "s3delta");
  EXPECT_TRUE(is_search_method("Delta-M"));
  EXPECT_TRUE(is_search_method("adalora"));
  EXPECT_FALSE(is_search_method("lora"));
  EXPECT_FALSE(is_search_method(""));
  EXPECT_EQ(method_ranks("s3delta", {1, 4, 8}), (std::vector<int64_t>{1}));
  EXPECT_EQ(method_ranks("bipeft", {1, 4, 8}), (std::vector<int64_t>{1, 4, 8}));
}

TEST(SearchMethod, TheRegistryHoldsEachMethodOnceAndEveryNameResolvesToIt) {
  std::set<std::string> seen;
  for (const auto& m : search_methods()) {
    EXPECT_TRUE(seen.insert(m.name).second) << m.name << " registered twice";
    EXPECT_TRUE(static_cast<bool>(m.run)) << m.name;
    EXPECT_FALSE(m.summary.empty()) << m.name;
    EXPECT_EQ(&find_search_method(m.name), &m);
    for (const auto& a : m.aliases) {
      EXPECT_TRUE(seen.insert(a).second) << a << " names two methods";
      EXPECT_EQ(canonical_search_method(a), m.name);
    }
  }
  EXPECT_EQ(search_method_names(), (std::vector<std::string>{"bipeft", "s3delta", "prunepeft", "autopeft", "adalora",
                                                             "random"}));
  // Only BIPEFT keeps a mid-run state; only S3Delta searches one rank.
  EXPECT_TRUE(find_search_method("bipeft").keeps_state);
  EXPECT_FALSE(find_search_method("adalora").keeps_state);
  EXPECT_TRUE(find_search_method("S3PET").single_rank);
}

TEST(CellResult, ReadsBackWhatItWroteAndNamesADamagedField) {
  CellResult c;
  c.task = "rte";
  c.method = "bipeft";
  c.seed = 43;
  c.metric = "accuracy";
  c.dev = 61.5;
  c.test = 58.25;
  c.dev_metrics = {{"accuracy", 61.5}};
  c.test_metrics = {{"accuracy", 58.25}};
  c.trainable_params = 1234;
  c.backbone_params = 98765;
  c.searched = true;
  c.search_seconds = 12.5;
  c.retrain_seconds = 30;
  const auto j = c.to_json();
  const auto back = CellResult::from_json(j, "result.json");
  EXPECT_EQ(back.to_json(), j);
  auto damaged = j;
  damaged["test"] = "high";
  EXPECT_THROW_WITH(CellResult::from_json(damaged, "cells/x/result.json"), FormatError,
                    "cells/x/result.json: comparison cell result field \"test\" is missing or malformed");
  damaged = j;
  damaged.erase("seed");
  EXPECT_THROW_WITH(CellResult::from_json(damaged, "r.json"), FormatError, "field \"seed\"");
  EXPECT_THROW_WITH(CellResult::from_json(nlohmann::json::array(), "r.json"), FormatError,
                    "not a comparison cell result");
}

// ---- on a tiny model -------------------------------------------------------------------------------

struct Tiny {
  text::Tokenizer tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  data::TaskData task = data::load_task("sst2", test::source_path("examples/data/sst2"), data::TaskOptions{});
  search::SearchOptions options() const {
    search::SearchOptions o;
    o.epochs = 4;
    o.prune_begin_epoch = 1;
    o.batch_size = 8;
    o.max_train_examples = 64;
    o.lr = 1e-2;
    return o;
  }
};

TEST(RandomStructure, FillsTheBudgetAndDependsOnlyOnTheSeed) {
  Tiny t;
  RunContext ctx;
  const double budget = 2500;
  const auto a = random_structure(test::tiny_t5_with_real_vocab(3), {}, t.options(), budget, ctx);
  EXPECT_LE(a.params, budget);
  EXPECT_GE(a.params, 0.9 * budget);
  EXPECT_FALSE(a.structure.modules.empty());
  const auto b = random_structure(test::tiny_t5_with_real_vocab(3), {}, t.options(), budget, ctx);
  EXPECT_EQ(a.structure.to_json(), b.structure.to_json());
  ctx.seed = 7;
  const auto c = random_structure(test::tiny_t5_with_real_vocab(3), {}, t.options(), budget, ctx);
  EXPECT_NE(a.structure.to_json(), c.structure.to_json());
  // The exact count matches a model built from the structure.
  auto backbone = test::tiny_t5_with_real_vocab(3);
  peft::PeftModel pm(backbone, a.structure, 1);
  EXPECT_EQ(static_cast<double>(pm->trainable_count()), a.params);
}

TEST(S3Delta, ExpectedSizeEqualsTheBudgetAtEveryStepAndTheStructureFits) {
  Tiny t;
  RunContext ctx;
  auto sink = std::make_shared<test::RecordingSink>();
  ctx.events = sink;
  const double budget = 400;  // below the rank-1 space of the tiny model
  const auto r = s3delta_search(test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, t.options(), S3DeltaOptions{},
                                budget, ctx);
  ASSERT_EQ(r.curve.size(), static_cast<size_t>(r.steps));
  ASSERT_GT(r.steps, 0);
  for (const auto& p : r.curve) EXPECT_NEAR(p[1], budget, 1e-3 * budget) << "step " << p[0];
  EXPECT_LE(r.params, budget);
  EXPECT_GE(r.params, 0.8 * budget);
  for (const auto& m : r.structure.modules)
    if (m.method == "lora" || m.method == "adapter-lr") {
      EXPECT_EQ(m.rank, 1) << m.site;
    }
  auto backbone = test::tiny_t5_with_real_vocab(3);
  peft::PeftModel pm(backbone, r.structure, 1);
  EXPECT_EQ(static_cast<double>(pm->trainable_count()), r.params);
  EXPECT_EQ(sink->events.back()["event"], "done");
}

TEST(PrunePeft, EndsAtTheBudgetFollowingTheScheduleAndNeverGrowsBack) {
  Tiny t;
  RunContext ctx;
  auto sink = std::make_shared<test::RecordingSink>();
  ctx.events = sink;
  const double budget = 2500;
  const auto r = prune_peft_search(test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, t.options(), budget, ctx);
  EXPECT_TRUE(r.completed);
  EXPECT_LE(r.params, budget);
  EXPECT_GE(r.params, 0.9 * budget);
  ASSERT_FALSE(r.curve.empty());
  EXPECT_EQ(r.curve.front()[2], r.space_params);  // nothing pruned before the prune-begin epoch
  for (size_t i = 1; i < r.curve.size(); ++i) {
    EXPECT_LE(r.curve[i][2], r.curve[i - 1][2]) << "kept size grew at step " << r.curve[i][0];
    EXPECT_LE(r.curve[i][2], r.curve[i][1]) << "kept size above the schedule at step " << r.curve[i][0];
  }
  // Ranks only shrink, one candidate at a time, and every shrink is logged.
  std::map<std::string, int64_t> rank;
  for (const auto& e : sink->events) {
    if (e["event"] != "prune") continue;
    for (const auto& p : e["pruned"]) {
      const auto id = p["id"].get<std::string>();
      if (rank.count(id)) {
        EXPECT_EQ(p["from"].get<int64_t>(), rank[id]) << id;
      }
      EXPECT_LT(p["to"].get<int64_t>(), p["from"].get<int64_t>());
      rank[id] = p["to"];
    }
  }
  EXPECT_FALSE(rank.empty());
  auto backbone = test::tiny_t5_with_real_vocab(3);
  peft::PeftModel pm(backbone, r.structure, 1);
  EXPECT_EQ(static_cast<double>(pm->trainable_count()), r.params);
}

TEST(AutoPeft, TrialsStayWithinTheBudgetAndTheBestTrialIsTheResult) {
  Tiny t;
  RunContext ctx;
  auto sink = std::make_shared<test::RecordingSink>();
  ctx.events = sink;
  const double budget = 2500;
  AutoPeftOptions ao;
  ao.trials = 5;
  ao.initial = 3;
  auto o = t.options();
  o.max_train_examples = 32;
  const auto r = autopeft_search(test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, o, ao, budget, ctx);
  int trials = 0;
  double best_loss = INFINITY, best_params = -1;
  for (const auto& e : sink->events) {
    if (e["event"] != "trial") continue;
    ++trials;
    EXPECT_LE(e["params"].get<double>(), budget);
    EXPECT_GT(e["modules"].get<int64_t>(), 0);
    if (e["val_loss"].get<double>() < best_loss) {
      best_loss = e["val_loss"].get<double>();
      best_params = e["params"].get<double>();
      EXPECT_TRUE(e["best"].get<bool>());
    }
  }
  EXPECT_EQ(trials, 5);
  EXPECT_EQ(r.params, best_params);
  EXPECT_LE(r.params, budget);
  auto backbone = test::tiny_t5_with_real_vocab(3);
  peft::PeftModel pm(backbone, r.structure, 1);
  EXPECT_EQ(static_cast<double>(pm->trainable_count()), r.params);
}

TEST(SearchMethod, BudgetChecksAreTheSameForEveryMethod) {
  Tiny t;
  auto backbone = test::tiny_t5_with_real_vocab(3);
  const auto sizes = search::measure_space(backbone, {}, {1, 4, 8});
  EXPECT_THROW(sizes.check_budget(sizes.whole), ConfigError);
  EXPECT_THROW(sizes.check_budget(sizes.smallest - 1), ConfigError);
  EXPECT_NO_THROW(sizes.check_budget(sizes.whole - 1));
  for (const auto& method : search_method_names())
    EXPECT_THROW(run_search_method(method, test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, t.options(), {},
                                   sizes.whole + 1, RunContext{}),
                 ConfigError)
        << method;
  // A request without its task is refused by name.
  SearchRequest r;
  r.backbone = test::tiny_t5_with_real_vocab(3);
  r.budget = sizes.whole / 2;
  EXPECT_THROW_WITH(run_search_method("random", r, RunContext{}), ConfigError, "tokenizer and task");
}

TEST(SearchMethod, TheRequestFormGivesTheSameStructureAsTheArguments) {
  Tiny t;
  const auto sizes = search::measure_space(test::tiny_t5_with_real_vocab(3), {}, {1, 4, 8});
  RunContext ctx;
  ctx.seed = 4;
  SearchRequest r;
  r.backbone = test::tiny_t5_with_real_vocab(3);
  r.tokenizer = &t.tok;
  r.task = &t.task;
  r.options = t.options();
  r.budget = sizes.whole / 3;
  const auto a = run_search_method("random", r, ctx);
  const auto b = run_search_method("random", test::tiny_t5_with_real_vocab(3), t.tok, t.task, {}, t.options(), {},
                                   sizes.whole / 3, ctx);
  EXPECT_EQ(a.structure.to_json(), b.structure.to_json());
  EXPECT_EQ(a.params, b.params);
  EXPECT_LE(a.params, r.budget);
}

}  // namespace
}  // namespace bipeft::baselines
