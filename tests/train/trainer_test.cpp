#include "bipeft/train/trainer.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/peft/structure.h"
#include "bipeft/train/schedule.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::train {
namespace {

using test::RecordingSink;

model::T5Model small_t5_with_real_vocab() { return test::tiny_t5_with_real_vocab(1); }

TEST(LinearSchedule, WarmsUpThenDecaysLinearlyToZero) {
  LinearSchedule s(10, 2);
  EXPECT_DOUBLE_EQ(s.factor(0), 0.0);
  EXPECT_DOUBLE_EQ(s.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(2), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(6), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(10), 0.0);
  EXPECT_DOUBLE_EQ(LinearSchedule(4, 0).factor(0), 1.0);
}

TEST(Trainer, LoraOnTheSst2SampleLowersTheLossAndLogsEveryEvent) {
  auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  data::TaskOptions to;
  auto task = data::load_task("sst2", test::source_path("examples/data/sst2"), to);
  auto m = small_t5_with_real_vocab();
  peft::PeftModel pm(m, peft::manual_structure({"lora"}, 8, {"q", "v"}, m->sites()), 7);
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = 16;
  o.lr = 1e-2;
  o.max_train_examples = 64;
  o.log_every = 1;
  RunContext ctx;
  auto sink = std::make_shared<RecordingSink>();
  ctx.events = sink;
  auto result = train_model(*pm, tok, task, o, ctx);
  std::vector<double> epoch_loss;
  for (const auto& e : result.history) epoch_loss.push_back(e["train_loss"].get<double>());
  ASSERT_EQ(epoch_loss.size(), 3u);
  EXPECT_LT(epoch_loss.back(), epoch_loss.front());
  EXPECT_EQ(result.steps, 3 * 4);
  EXPECT_GE(result.best_epoch, 1);
  EXPECT_TRUE(result.test.metrics.size() == 1 && result.test.metrics[0].first == "accuracy");
  int steps = 0;
  for (const auto& e : sink->events) steps += e["event"] == "step";
  EXPECT_EQ(steps, 12);
  EXPECT_EQ(sink->events.front()["event"], "start");
  EXPECT_EQ(sink->events.back()["event"], "done");
}

TEST(Trainer, SameSeedGivesBitwiseEqualWeightsOnCpu) {
  auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  auto task = data::load_task("sst2", test::source_path("examples/data/sst2"), data::TaskOptions{});
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = 8;
  o.max_train_examples = 24;
  o.eval_test = false;
  std::vector<at::Tensor> runs;
  for (int i = 0; i < 2; ++i) {
    auto m = small_t5_with_real_vocab();
    m->set_dropout(0.1);
    peft::PeftModel pm(m, peft::manual_structure({"lora", "bitfit"}, 4, {"q", "v"}, m->sites()), 3);
    RunContext ctx;
    ctx.seed = 11;
    train_model(*pm, tok, task, o, ctx);
    std::vector<at::Tensor> flat;
    for (auto& p : pm->parameters()) flat.push_back(p.detach().flatten());
    runs.push_back(at::cat(flat));
  }
  EXPECT_TRUE(runs[0].equal(runs[1]));
}

TEST(Trainer, NonFiniteLossStopsWithTheStep) {
  auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  auto task = data::load_task("sst2", test::source_path("examples/data/sst2"), data::TaskOptions{});
  auto m = small_t5_with_real_vocab();
  peft::PeftModel pm(m, peft::manual_structure({"lora"}, 4, {"q"}, m->sites()), 3);
  {
    torch::NoGradGuard ng;
    m->shared->weight.index_put_({0}, std::numeric_limits<float>::quiet_NaN());  // pad embedding
  }
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = 8;
  o.max_train_examples = 16;
  EXPECT_THROW_WITH(train_model(*pm, tok, task, o, RunContext{}), NumericError, "at step 1");
}

TEST(Trainer, StepsMinimiseTheGivenObjective) {
  auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  auto task = data::load_task("sst2", test::source_path("examples/data/sst2"), data::TaskOptions{});
  auto m = small_t5_with_real_vocab();
  peft::PeftModel pm(m, peft::manual_structure({"lora"}, 4, {"q"}, m->sites()), 3);
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 8;
  o.max_train_examples = 24;
  o.eval_test = false;
  o.weight_decay = 0;
  o.clip_norm = 0;
  o.lr = 1e-2;
  // Pull every trainable value towards 1: the labels play no part, so only the objective can do this.
  std::vector<at::Tensor> params = pm->trainable_parameters();
  std::vector<double> seen;
  o.objective = [&](model::T5ModelImpl&, const data::Batch& b) {
    EXPECT_GT(b.input_ids.size(0), 0);
    at::Tensor loss = at::zeros({});
    for (auto& p : params) loss = loss + (p - 1).pow(2).mean();
    seen.push_back(loss.item<double>());
    return loss;
  };
  auto result = train_model(*pm, tok, task, o, RunContext{});
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(result.steps, 6);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i], seen[i - 1]) << "step " << i + 1;
}

}  // namespace
}  // namespace bipeft::train
