// Span-corruption pretraining: the text corpus (chunks, held-out share, errors), the held-out loss
// falling on a tiny model, and a stopped-and-resumed run ending bit-identical to an uninterrupted one.
#include "bipeft/train/pretrainer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "bipeft/core/error.h"
#include "bipeft/data/task_mixture.h"
#include "bipeft/data/text_corpus.h"
#include "bipeft/io/file_util.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::train {
namespace {

const text::Tokenizer& tokenizer() {
  static const auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  return tok;
}

std::string write_corpus(const test::TempDir& dir, int lines) {
  static const char* kSentences[] = {
      "The cat sat on the mat and looked at the garden.",
      "A small boat sailed across the quiet lake at dawn.",
      "Children played football in the park after school.",
      "The market was busy with people buying fresh bread.",
      "She wrote a long letter to her friend in the city.",
  };
  const auto path = dir / "corpus.txt";
  std::ofstream out(path);
  for (int i = 0; i < lines; ++i) out << kSentences[i % 5] << (i % 7 == 3 ? "\n\n   \n" : "\n");
  return path;
}

TEST(TextCorpus, ChunksTheTokenStreamAndHoldsOutEveryKthChunk) {
  test::TempDir dir;
  const auto path = write_corpus(dir, 60);
  const auto c = data::read_text_corpus(tokenizer(), {path}, 16, 0.25);
  EXPECT_EQ(c.lines, 60);  // blank and whitespace-only lines skipped
  const size_t chunks = c.train.size() + c.heldout.size();
  EXPECT_EQ(c.heldout.size(), chunks / 4);
  int64_t tokens = 0;
  for (const auto* part : {&c.train, &c.heldout})
    for (const auto& ch : *part) {
      EXPECT_LE(ch.size(), 16u);
      EXPECT_GE(ch.size(), 8u);
      for (int64_t id : ch) EXPECT_NE(id, tokenizer().eos_id());  // no EOS inside the stream
      tokens += static_cast<int64_t>(ch.size());
    }
  EXPECT_EQ(tokens, c.tokens);
  // Same text, no held-out share: every chunk trains.
  const auto all = data::read_text_corpus(tokenizer(), {path}, 16, 0.0);
  EXPECT_EQ(all.train.size(), chunks);
  EXPECT_TRUE(all.heldout.empty());
}

TEST(TextCorpus, BadInputsNameTheProblem) {
  test::TempDir dir;
  const auto path = write_corpus(dir, 60);
  EXPECT_THROW_WITH(data::read_text_corpus(tokenizer(), {dir / "missing.txt"}, 16, 0.1), IoError, "missing.txt");
  std::ofstream(dir / "tiny.txt") << "one line\n";
  EXPECT_THROW_WITH(data::read_text_corpus(tokenizer(), {dir / "tiny.txt"}, 16, 0.1), FormatError, "tiny.txt");
  EXPECT_THROW(data::read_text_corpus(tokenizer(), {path}, 4, 0.1), ConfigError);
  EXPECT_THROW(data::read_text_corpus(tokenizer(), {path}, 16, 0.9), ConfigError);
  EXPECT_THROW(data::read_text_corpus(tokenizer(), {}, 16, 0.1), ConfigError);
}

PretrainOptions quick_options() {
  PretrainOptions o;
  o.steps = 30;
  o.batch_size = 8;
  o.lr = 1e-2;
  o.rms_scaled_lr = false;  // these tests fix the loop, not the step rule; absolute steps learn faster here
  o.warmup_ratio = 0.1;
  o.eval_every = 10;
  o.log_every = 5;
  return o;
}

TEST(Pretrainer, HeldOutLossFallsAndWeightsAreFrozenAfterwards) {
  test::TempDir dir;
  const auto corpus = data::read_text_corpus(tokenizer(), {write_corpus(dir, 80)}, 16, 0.2);
  auto model = test::tiny_t5_with_real_vocab(3);
  RunContext ctx;
  auto rec = std::make_shared<test::RecordingSink>();
  ctx.events = rec;
  const auto r = pretrain_model(*model, tokenizer(), corpus, quick_options(), ctx);
  EXPECT_EQ(r.steps, 30);
  ASSERT_EQ(r.heldout_curve.size(), 4u);  // steps 0, 10, 20, 30
  EXPECT_EQ(r.heldout_curve.front()[0], 0);
  // From ~ln(32128) = 10.4 nats at random init: every evaluation lower, 3+ nats gained in 30 steps.
  for (size_t i = 1; i < r.heldout_curve.size(); ++i) EXPECT_LT(r.heldout_curve[i][1], r.heldout_curve[i - 1][1]);
  EXPECT_LT(r.heldout_loss, r.heldout_curve.front()[1] - 3.0);
  EXPECT_EQ(r.train_curve.size(), 6u);
  EXPECT_GT(r.epochs, 1.0);  // the corpus was repeated
  EXPECT_GT(r.input_tokens, 0);
  EXPECT_DOUBLE_EQ(r.heldout_loss, heldout_loss(*model, tokenizer(), corpus, quick_options(), ctx.seed));
  for (const auto& p : model->parameters()) EXPECT_FALSE(p.requires_grad());
  EXPECT_FALSE(model->is_training());
  EXPECT_EQ(rec->events.front()["event"], "start");
  EXPECT_EQ(rec->events.back()["event"], "done");
}

// --lr-scale rms: each tensor moves in proportion to its own scale. With one absolute AdamW lr the
// small-init q (N(0, (d d_kv)^-0.5)) moves by a far larger share of itself than the N(0, 1)
// embeddings; with RMS-scaled steps the two shares are of one order, and the held-out loss falls.
TEST(Pretrainer, RmsScaledStepsMoveEachTensorInProportionToItsScale) {
  test::TempDir dir;
  const auto corpus = data::read_text_corpus(tokenizer(), {write_corpus(dir, 80)}, 16, 0.2);
  auto relative_moves = [&](bool rms, double lr, double* heldout_gain) {
    auto model = test::tiny_t5_with_real_vocab(3);
    const auto q0 = model->encoder->blocks[0]->self_attention->SelfAttention->q->weight.detach().clone();
    const auto e0 = model->shared->weight.detach().clone();
    auto o = quick_options();
    o.steps = 10;
    o.rms_scaled_lr = rms;
    o.lr = lr;
    RunContext ctx;
    const auto r = pretrain_model(*model, tokenizer(), corpus, o, ctx);
    *heldout_gain = r.heldout_curve.front()[1] - r.heldout_loss;
    auto rel = [](const at::Tensor& now, const at::Tensor& before) {
      return ((now - before).norm() / before.norm()).item<double>();
    };
    return std::make_pair(rel(model->encoder->blocks[0]->self_attention->SelfAttention->q->weight, q0),
                          rel(model->shared->weight, e0));
  };
  double gain_abs = 0, gain_rms = 0;
  const auto [q_abs, e_abs] = relative_moves(false, 1e-2, &gain_abs);
  const auto [q_rms, e_rms] = relative_moves(true, 1e-1, &gain_rms);
  // The tiny model's q starts at N(0, (32 * 8)^-0.5): 1/16 of the embeddings' scale, so equal absolute
  // steps move it by ~16x the embeddings' share (12.4 measured); relative steps by a similar share.
  EXPECT_GT(q_abs / e_abs, 8.0) << q_abs << " " << e_abs;
  EXPECT_LT(q_rms / e_rms, 4.0) << q_rms << " " << e_rms;
  EXPECT_GT(q_rms / e_rms, 0.25) << q_rms << " " << e_rms;
  RecordProperty("abs_ratio", std::to_string(q_abs / e_abs));  // in the test's XML record, not on stderr
  RecordProperty("rms_ratio", std::to_string(q_rms / e_rms));
  EXPECT_GT(gain_rms, 1.0);  // it learns
  EXPECT_GT(gain_abs, 1.0);
  EXPECT_TRUE(PretrainOptions{}.rms_scaled_lr);  // the default
}

TEST(Pretrainer, StoppedAndResumedRunEndsBitIdentical) {
  test::TempDir dir;
  const auto corpus = data::read_text_corpus(tokenizer(), {write_corpus(dir, 80)}, 16, 0.2);
  auto options = quick_options();
  options.steps = 12;
  options.eval_every = 4;
  options.log_every = 2;
  auto reference = test::tiny_t5_with_real_vocab(5);
  reference->set_dropout(0.1);  // the dropout generator must be restored too
  RunContext ctx;
  const auto expected = pretrain_model(*reference, tokenizer(), corpus, options, ctx);

  for (int64_t stop_at : {3, 8}) {
    Checkpointing ck{dir / ("state" + std::to_string(stop_at) + ".safetensors"), 4, true};
    std::atomic<bool> flag{false};
    RunContext stopped;
    stopped.stop_requested = &flag;
    stopped.progress = std::make_shared<test::StopAfter>(&flag, "pretrain", stop_at);
    auto model = test::tiny_t5_with_real_vocab(5);
    model->set_dropout(0.1);
    EXPECT_THROW(pretrain_model(*model, tokenizer(), corpus, options, stopped, ck), Interrupted);
    ASSERT_TRUE(io::is_file(ck.path));
    auto resumed_model = test::tiny_t5_with_real_vocab(99);  // different start: the state must overwrite it
    resumed_model->set_dropout(0.1);
    const auto got = pretrain_model(*resumed_model, tokenizer(), corpus, options, RunContext{}, ck);
    EXPECT_EQ(got.steps, expected.steps);
    EXPECT_EQ(got.heldout_curve, expected.heldout_curve) << "stop at " << stop_at;
    EXPECT_EQ(got.train_curve, expected.train_curve) << "stop at " << stop_at;
    EXPECT_EQ(got.input_tokens, expected.input_tokens);
    const auto a = reference->parameters(), b = resumed_model->parameters();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equal(b[i])) << "parameter " << i << ", stop at " << stop_at;
  }
}

TEST(Pretrainer, ResumeRefusesAStateOfAnotherRun) {
  test::TempDir dir;
  const auto corpus = data::read_text_corpus(tokenizer(), {write_corpus(dir, 80)}, 16, 0.2);
  auto options = quick_options();
  options.steps = 4;
  Checkpointing ck{dir / "state.safetensors", 2, true};
  auto model = test::tiny_t5_with_real_vocab(5);
  pretrain_model(*model, tokenizer(), corpus, options, RunContext{}, ck);
  ASSERT_TRUE(io::is_file(ck.path));  // the library leaves the state; the CLI deletes it when done
  options.steps = 6;
  EXPECT_THROW_WITH(pretrain_model(*model, tokenizer(), corpus, options, RunContext{}, ck), ConfigError, "original");
}

// The token-mean loss of `model` on `examples` (eval mode, no gradients).
double task_loss(model::T5ModelImpl& model, const std::vector<data::TokenizedExample>& examples) {
  at::NoGradGuard ng;
  std::vector<size_t> all(examples.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  auto b = data::make_batch(examples, all, tokenizer().pad_id());
  return model.forward(b.input_ids, b.attention_mask, {}, b.labels).loss.item<double>();
}

// Multi-task mixing: the task rows are learned (their loss falls well below what span corruption alone
// gives), the held-out span-corruption loss is still measured, and a stopped run resumes bit-identical.
TEST(Pretrainer, MixedTaskRowsAreLearnedAndResumeBitIdentical) {
  test::TempDir dir;
  const auto corpus = data::read_text_corpus(tokenizer(), {write_corpus(dir, 80)}, 16, 0.2);
  const auto mix = data::read_task_mixture({{"stsb", test::source_path("examples/data/stsb")}}, tokenizer(), 24);
  ASSERT_EQ(mix.examples.size(), 24u);
  auto options = quick_options();
  options.steps = 20;
  options.task_rows = 4;
  options.task_weight = 2.0;
  auto plain_options = options;
  plain_options.task_rows = 0;
  auto plain = test::tiny_t5_with_real_vocab(5), mixed = test::tiny_t5_with_real_vocab(5);
  const double before = task_loss(*mixed, mix.examples);
  pretrain_model(*plain, tokenizer(), corpus, plain_options, RunContext{});
  auto rec = std::make_shared<test::RecordingSink>();
  RunContext ctx;
  ctx.events = rec;
  const auto expected = pretrain_model(*mixed, tokenizer(), corpus, options, ctx, {}, mix.examples);
  const double after_plain = task_loss(*plain, mix.examples), after_mixed = task_loss(*mixed, mix.examples);
  // Measured: 11.6 nats before, 9.0 after span corruption alone, 6.6 with the task rows.
  EXPECT_LT(after_mixed, after_plain - 1.0) << "before " << before << ", span corruption only " << after_plain;
  EXPECT_EQ(expected.heldout_curve.size(), 3u);
  EXPECT_EQ(rec->events.front()["task_examples"], 24);
  EXPECT_EQ(rec->events.front()["options"]["task_rows"], 4);

  // Stopped after 7 steps (the task stream is in its second pass) and resumed: the same weights.
  Checkpointing ck{dir / "mixed.safetensors", 3, true};
  std::atomic<bool> flag{false};
  RunContext stopped;
  stopped.stop_requested = &flag;
  stopped.progress = std::make_shared<test::StopAfter>(&flag, "pretrain", 7);
  auto model = test::tiny_t5_with_real_vocab(5);
  EXPECT_THROW(pretrain_model(*model, tokenizer(), corpus, options, stopped, ck, mix.examples), Interrupted);
  // Another task set is another run.
  EXPECT_THROW_WITH(pretrain_model(*model, tokenizer(), corpus, options, RunContext{}, ck,
                                   std::vector<data::TokenizedExample>(mix.examples.begin(), mix.examples.begin() + 10)),
                    ConfigError, "original");
  auto resumed = test::tiny_t5_with_real_vocab(99);
  const auto got = pretrain_model(*resumed, tokenizer(), corpus, options, RunContext{}, ck, mix.examples);
  EXPECT_EQ(got.train_curve, expected.train_curve);
  const auto a = mixed->parameters(), b = resumed->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equal(b[i])) << "parameter " << i;
}

TEST(Pretrainer, TaskRowsWithoutTaskExamplesOrBadWeightsAreConfigErrors) {
  test::TempDir dir;
  const auto corpus = data::read_text_corpus(tokenizer(), {write_corpus(dir, 80)}, 16, 0.2);
  auto model = test::tiny_t5_with_real_vocab(5);
  auto o = quick_options();
  o.task_rows = 2;
  EXPECT_THROW_WITH(pretrain_model(*model, tokenizer(), corpus, o, RunContext{}), ConfigError, "task_rows");
  o.task_weight = -1;
  EXPECT_THROW_WITH(o.validate(), OptionError, "task_weight");
  o.task_weight = 1;
  o.task_rows = -1;
  EXPECT_THROW_WITH(o.validate(), OptionError, "task_rows");
}

}  // namespace
}  // namespace bipeft::train
