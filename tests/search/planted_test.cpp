// The planted-structure benchmark: recovery scoring by hand, and a tiny end-to-end run.
#include "bipeft/search/planted.h"

#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "bipeft/core/error.h"
#include "bipeft/data/collate.h"
#include "bipeft/peft/lora.h"
#include "bipeft/data/task.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::search {
namespace {

peft::Structure structure(std::vector<peft::ModuleSpec> m) {
  peft::Structure s;
  s.modules = std::move(m);
  return s;
}

TEST(Planted, RecoveryCountsModulesBySiteAndMethodAndRanksSeparately) {
  auto truth = structure({{"a", "lora", 8}, {"b", "lora", 4}, {"c", "lora", 8}, {"d", "lora", 4}});
  auto found = structure({{"a", "lora", 8}, {"b", "lora", 1}, {"e", "lora", 8}});
  PlantedReport r;
  score_recovery(truth, found, r);
  EXPECT_DOUBLE_EQ(r.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.recall, 0.5);
  EXPECT_NEAR(r.f1, 2 * (2.0 / 3.0) * 0.5 / (2.0 / 3.0 + 0.5), 1e-12);
  EXPECT_DOUBLE_EQ(r.rank_accuracy, 0.5);
  // Sublayers: a, b, c, d are each their own; "e" too, so the same figures as above.
  EXPECT_DOUBLE_EQ(r.sublayer_precision, 2.0 / 3.0);
  // v and o of one attention are one sublayer; q of another block is not.
  const std::string att0 = "encoder.block.0.layer.0.SelfAttention.", att1 = "encoder.block.1.layer.0.SelfAttention.";
  score_recovery(structure({{att0 + "v", "lora", 8}, {att1 + "q", "lora", 4}}),
                 structure({{att0 + "o", "lora", 8}, {att0 + "k", "lora", 1}, {att1 + "k", "bitfit", 1}}), r);
  EXPECT_DOUBLE_EQ(r.f1, 0.0);
  EXPECT_DOUBLE_EQ(r.sublayer_precision, 0.5);  // {att0:lora, att1:bitfit}: one of two
  EXPECT_DOUBLE_EQ(r.sublayer_recall, 0.5);     // {att0:lora, att1:lora}: one of two
  EXPECT_DOUBLE_EQ(r.sublayer_f1, 0.5);
  // Same site, other method: no match.
  score_recovery(truth, structure({{"a", "bitfit", 1}}), r);
  EXPECT_DOUBLE_EQ(r.precision, 0.0);
  EXPECT_DOUBLE_EQ(r.f1, 0.0);
  score_recovery(truth, structure({}), r);
  EXPECT_DOUBLE_EQ(r.recall, 0.0);
}

TEST(Planted, DefaultPlantSpreadsLoraOverEncoderAndDecoder) {
  auto m = test::tiny_t5_with_real_vocab(2);
  auto planted = default_planted(m->sites());
  ASSERT_EQ(planted.size(), 4u);
  EXPECT_EQ(planted[0].site, "encoder.block.0.layer.0.SelfAttention.q");
  EXPECT_EQ(planted[3].site, "decoder.block.1.layer.2.DenseReluDense.wo");
  for (const auto& p : planted) EXPECT_EQ(p.method, "lora");
}

TEST(Planted, TinyRunReportsConsistentFiguresAndLeavesTheBackboneBare) {
  auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  auto task = data::load_task("sst2", test::source_path("examples/data/sst2"), data::TaskOptions{});
  std::vector<std::string> sentences;
  for (const auto& e : task.train) sentences.push_back(e.source);
  auto m = test::tiny_t5_with_real_vocab(4);
  PlantedOptions o;
  o.max_sentences = 64;
  o.delta_scale = 2.0;
  o.search.epochs = 20;
  o.search.prune_begin_epoch = 0;
  o.search.max_triggers = 5;
  o.search.batch_size = 8;
  o.search.lr = 1e-2;
  o.train.epochs = 2;
  o.train.batch_size = 16;
  o.train.lr = 1e-2;
  auto r = run_planted_benchmark(m, tok, sentences, o, RunContext{});
  EXPECT_EQ(r.train_sentences + r.heldout_sentences, 64);
  EXPECT_GT(r.targets_changed, 0.0) << "the planted delta must change the teacher's outputs";
  EXPECT_LE(r.found_params, r.planted_params);
  EXPECT_LE(r.random_params, r.planted_params);
  EXPECT_GT(r.planted_params, 0);
  for (double v : {r.precision, r.recall, r.f1, r.rank_accuracy}) {
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
  // Training any structure on the teacher's targets beats the bare backbone.
  EXPECT_LT(r.loss_oracle, r.loss_backbone);
  EXPECT_TRUE(std::isfinite(r.loss_found) && std::isfinite(r.loss_random));
  for (const auto& p : m->parameters()) EXPECT_FALSE(p.requires_grad());
  // Each planted module's own effect is measured, in planted order, and is positive (it changes the teacher).
  ASSERT_EQ(r.planted_effects.size(), r.planted.modules.size());
  for (size_t i = 0; i < r.planted_effects.size(); ++i) {
    EXPECT_EQ(r.planted_effects[i].first, r.planted.modules[i].site + ":lora");
    EXPECT_GT(r.planted_effects[i].second, 0.0);
  }
  auto j = r.to_json();
  EXPECT_EQ(j["planted_effects"].size(), r.planted.modules.size());
  EXPECT_TRUE(j["warnings"].is_array());
  EXPECT_TRUE(j.contains("recovery") && j.contains("heldout_loss") && j.contains("search"));
}

TEST(Planted, DistillationIsZeroForTheTeacherItselfAndTrainsOnlyTheStudent) {
  auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  auto teacher = test::tiny_t5_with_real_vocab(4);
  auto student = test::tiny_t5_with_real_vocab(4);  // same seed: same weights
  std::vector<data::Example> ex = {data::make_example("a good film", "positive"),
                                   data::make_example("dull and long", "negative indeed")};
  auto tokd = data::tokenize_examples(tok, ex, 32, 8);
  auto batch = data::make_batch(tokd, {0, 1}, tok.pad_id());
  auto objective = distillation_objective(teacher);
  EXPECT_NEAR(objective(*student, batch).item<double>(), 0.0, 1e-6);
  {
    at::NoGradGuard ng;
    student->shared->weight.add_(at::randn(student->shared->weight.sizes()) * 0.5);
  }
  for (auto& p : teacher->parameters()) p.set_requires_grad(false);
  student->shared->weight.set_requires_grad(true);
  auto loss = objective(*student, batch);
  EXPECT_GT(loss.item<double>(), 1e-3);
  loss.backward();
  ASSERT_TRUE(student->shared->weight.grad().defined());
  EXPECT_GT(student->shared->weight.grad().abs().sum().item<double>(), 0.0);
  for (const auto& p : teacher->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Planted, ModulesOutsideTheSpaceOrAtOtherRanksAreRefused) {
  auto m = test::tiny_t5_with_real_vocab(2);
  SpaceOptions lora{"lora", {1, 4, 8}, false, {}};
  check_planted_in_space(structure({{"encoder.block.0.layer.0.SelfAttention.q", "lora", 8}}), lora, {1, 4, 8}, m->sites());
  EXPECT_THROW_WITH(check_planted_in_space(structure({{"decoder.block.0.layer.1.EncDecAttention.v", "lora", 8}}), lora,
                                           {1, 4, 8}, m->sites()),
                    ConfigError, "not in the search space");
  EXPECT_THROW_WITH(check_planted_in_space(structure({{"encoder.block.0.layer.0.SelfAttention.q", "lora", 2}}), lora,
                                           {1, 4, 8}, m->sites()),
                    ConfigError, "candidate ranks");
}

TEST(Planted, ALoraDeltaOfRankRHasREqualSingularValues) {
  auto bb = test::tiny_t5_with_real_vocab(1);
  const auto site = bb->sites().front();
  auto gen = at::detail::createCPUGenerator(5);
  for (int64_t r : {1, 2, 4}) {
    auto lora = std::make_shared<peft::LoraImpl>(site, r, gen);
    plant_equal_singular_values_(*lora, 2.0, gen);
    const auto delta = at::matmul(lora->B, lora->A).to(at::kDouble);  // [out, in]
    const auto sv = at::linalg_svdvals(delta);
    const double expected = 4.0 * std::sqrt(static_cast<double>(site.out_features) / static_cast<double>(r));
    for (int64_t k = 0; k < sv.size(0); ++k)
      EXPECT_NEAR(sv[k].item<double>(), k < r ? expected : 0.0, 1e-4 * expected) << "rank " << r << " value " << k;
  }
}

TEST(Planted, ScalingADeltaScalesTheLoraProductOnly) {
  auto bb = test::tiny_t5_with_real_vocab(1);
  auto gen = at::detail::createCPUGenerator(6);
  auto lora = std::make_shared<peft::LoraImpl>(bb->sites().front(), 4, gen);
  plant_equal_singular_values_(*lora, 2.0, gen);
  const auto a = lora->A.clone(), before = at::matmul(lora->B, lora->A);
  scale_delta_(*lora, 3.0);
  EXPECT_TRUE(at::equal(lora->A, a)) << "A stays; the product scales through B alone";
  EXPECT_TRUE(at::allclose(at::matmul(lora->B, lora->A), 3.0 * before, 1e-5, 1e-6));
}

// The planted effects of one teacher (seed) with and without balancing: balancing narrows them.
TEST(Planted, BalancingBringsThePlantedEffectsTogether) {
  auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  auto task = data::load_task("sst2", test::source_path("examples/data/sst2"), data::TaskOptions{});
  std::vector<std::string> sentences;
  for (const auto& e : task.train) sentences.push_back(e.source);
  auto spread = [&](bool balance, std::vector<double>* scales) {
    auto m = test::tiny_t5_with_real_vocab(4);
    PlantedOptions o;
    o.max_sentences = 64;
    o.delta_scale = 2.0;
    o.balance_effects = balance;
    o.train_structures = false;
    o.search.epochs = 2;
    o.search.prune_begin_epoch = 0;
    o.search.max_triggers = 1;
    o.search.batch_size = 16;
    RunContext ctx;
    ctx.seed = 3;
    auto r = run_planted_benchmark(m, tok, sentences, o, ctx);
    *scales = r.planted_scales;
    double lo = 1e300, hi = 0;
    for (const auto& [id, kl] : r.planted_effects) {
      lo = std::min(lo, kl);
      hi = std::max(hi, kl);
    }
    EXPECT_GT(lo, 0.0);
    return hi / lo;
  };
  std::vector<double> plain_scales, balanced_scales;
  const double plain = spread(false, &plain_scales), balanced = spread(true, &balanced_scales);
  for (double s : plain_scales) EXPECT_EQ(s, 1.0);
  ASSERT_EQ(balanced_scales.size(), 4u);
  bool moved = false;
  for (double s : balanced_scales) {
    EXPECT_GE(s, 1.0 / 8);
    EXPECT_LE(s, 8.0);
    moved = moved || s != 1.0;
  }
  EXPECT_TRUE(moved) << "unbalanced spread " << plain;
  EXPECT_LT(balanced, plain);
  EXPECT_LT(balanced, 6.0) << "effects within ~2x of their geometric mean (unbalanced: " << plain << ")";
}

TEST(Planted, BadOptionsAreConfigErrors) {
  auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  PlantedOptions o;
  o.delta_scale = 0;
  EXPECT_THROW_WITH(run_planted_benchmark(test::tiny_t5_with_real_vocab(1), tok, {"a"}, o, RunContext{}), ConfigError,
                    "PlantedOptions.delta_scale must be positive");
  o.delta_scale = 1;
  EXPECT_THROW_WITH(run_planted_benchmark(test::tiny_t5_with_real_vocab(1), tok, {"a", "b"}, o, RunContext{}),
                    ConfigError, "at least 8 sentences");
  o.target = "soft";
  EXPECT_THROW_WITH(run_planted_benchmark(test::tiny_t5_with_real_vocab(1), tok, {"a"}, o, RunContext{}), ConfigError,
                    "PlantedOptions.target must be logits or greedy");
}

}  // namespace
}  // namespace bipeft::search
