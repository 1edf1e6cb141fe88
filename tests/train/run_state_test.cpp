// The saved run state: round trips of tensors, optimizer and generator states; stopped-and-resumed
// training that ends bit-identical to an uninterrupted run.
#include "bipeft/train/run_state.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "bipeft/io/file_util.h"
#include "bipeft/peft/structure.h"
#include "bipeft/train/trainer.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::train {
namespace {

TEST(RunState, RoundTripsTensorsOptimizerAndGenerator) {
  test::TempDir dir;
  auto w = at::randn({3, 4}).requires_grad_();
  torch::optim::AdamW opt({w}, torch::optim::AdamWOptions(0.1));
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    (w * w).sum().backward();
    opt.step();
  }
  auto gen = at::detail::createCPUGenerator(17);
  RunState s("train");
  s.meta["step"] = 3;
  s.put_list("weights", {w});
  s.put_grad_presence("weights", {w});
  s.put_optimizer("opt", opt);
  s.put_generator("gen", gen);
  const auto path = dir / "state.safetensors";
  s.save(path);
  const auto expected_draw = at::rand({5}, gen);

  auto loaded = RunState::load(path, "train");
  EXPECT_EQ(loaded.meta["step"], 3);
  auto w2 = at::zeros({3, 4}).requires_grad_();
  std::vector<at::Tensor> dst{w2};
  loaded.copy_list_into("weights", dst);
  loaded.restore_grad_presence("weights", dst);
  EXPECT_TRUE(w2.equal(w));
  ASSERT_TRUE(w2.grad().defined());
  EXPECT_EQ(w2.grad().abs().sum().item<float>(), 0.0f);
  torch::optim::AdamW opt2({w2}, torch::optim::AdamWOptions(0.1));
  loaded.get_optimizer("opt", opt2);
  auto gen2 = at::detail::createCPUGenerator(99);
  loaded.get_generator("gen", gen2);
  EXPECT_TRUE(at::rand({5}, gen2).equal(expected_draw));
  // One more identical step on both sides stays identical (moments and step count restored).
  for (auto* o : {&opt, &opt2}) {
    o->zero_grad();
  }
  (w * w).sum().backward();
  (w2 * w2).sum().backward();
  opt.step();
  opt2.step();
  EXPECT_TRUE(w2.equal(w));
}

TEST(RunState, TheSaveFaultSeamRunsHalfWayAndAFailedSaveKeepsThePreviousFile) {
  test::TempDir tmp;
  const std::string path = tmp / "state.safetensors";
  RunState a("train");
  a.meta["step"] = 1;
  a.put("w", at::arange(1000, at::kFloat));
  std::vector<int> seen;
  set_save_fault_hook([&](int save) {
    seen.push_back(save);
    // Half-way: the temporary file exists, the target is still the previous state.
    if (seen.size() == 2) {
      EXPECT_EQ(RunState::load(path, "train").meta.at("step"), 1);
      throw IoError("injected");
    }
  });
  a.save(path);  // save 1: completes
  a.meta["step"] = 2;
  EXPECT_THROW(a.save(path), IoError);  // save 2: fails half-way
  set_save_fault_hook(nullptr);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], seen[0] + 1);  // the process's save count
  const auto back = RunState::load(path, "train");
  EXPECT_EQ(back.meta.at("step"), 1);  // the earlier state, whole
  EXPECT_TRUE(back.get("w").equal(at::arange(1000, at::kFloat)));
  for (const auto& e : std::filesystem::directory_iterator(tmp.str()))
    EXPECT_EQ(e.path().filename().string(), "state.safetensors") << "a temporary file was left behind";
  a.save(path);  // without the hook: saves normally
  EXPECT_EQ(RunState::load(path, "train").meta.at("step"), 2);
}

TEST(RunState, WrongKindMissingEntriesAndShapeMismatchAreFormatErrors) {
  test::TempDir dir;
  RunState s("search");
  s.put_list("weights", {at::ones({2})});
  s.save(dir / "s.safetensors");
  EXPECT_THROW(RunState::load(dir / "s.safetensors", "train"), FormatError);
  auto st = RunState::load(dir / "s.safetensors", "search");
  EXPECT_THROW(st.get("nothing"), FormatError);
  std::vector<at::Tensor> wrong{at::zeros({3})};
  try {
    st.copy_list_into("weights", wrong);
    FAIL() << "a shape mismatch must throw";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("weights.0"), std::string::npos) << e.what();
  }
  io::write_file_atomic(dir / "plain.safetensors", std::string(8, '\0'));
  EXPECT_THROW(RunState::load(dir / "plain.safetensors", "train"), FormatError);
}

struct Outcome {
  at::Tensor weights;
  TrainResult result;
};

Outcome train_tiny(const Checkpointing& ck, int64_t stop_after) {
  auto tok = text::Tokenizer::from_file(test::source_path("examples/spiece.model"));
  auto task = data::load_task("sst2", test::source_path("examples/data/sst2"), data::TaskOptions{});
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = 8;
  o.max_train_examples = 24;
  o.eval_test = false;
  o.log_every = 2;
  auto m = test::tiny_t5_with_real_vocab(1);
  m->set_dropout(0.1);
  peft::PeftModel pm(m, peft::manual_structure({"lora", "bitfit"}, 4, {"q", "v"}, m->sites()), 3);
  std::atomic<bool> stop{false};
  RunContext ctx;
  ctx.seed = 11;
  ctx.stop_requested = &stop;
  if (stop_after > 0) ctx.progress = std::make_shared<test::StopAfter>(&stop, "train", stop_after);
  Outcome out;
  out.result = train_model(*pm, tok, task, o, ctx, ck);
  std::vector<at::Tensor> flat;
  for (auto& p : pm->parameters()) flat.push_back(p.detach().flatten());
  out.weights = at::cat(flat);
  return out;
}

TEST(Trainer, StoppedAndResumedRunsEndBitIdenticalToAnUninterruptedOne) {
  const auto reference = train_tiny({}, 0);
  // Stops mid-epoch (step 4 of 9), at an epoch end before its evaluation (step 3), and with periodic
  // checkpoints (every 2 steps) in place.
  for (int64_t stop_at : {4, 3, 7}) {
    test::TempDir dir;
    Checkpointing ck;
    ck.path = dir / "train_state.safetensors";
    ck.every = stop_at == 7 ? 2 : 0;
    EXPECT_THROW(train_tiny(ck, stop_at), Interrupted) << stop_at;
    ASSERT_TRUE(io::is_file(ck.path));
    ck.resume = true;
    const auto resumed = train_tiny(ck, 0);
    EXPECT_TRUE(resumed.weights.equal(reference.weights)) << "stopped after step " << stop_at;
    EXPECT_EQ(resumed.result.steps, reference.result.steps);
    EXPECT_EQ(resumed.result.best_epoch, reference.result.best_epoch);
    EXPECT_EQ(resumed.result.best_dev.to_json(), reference.result.best_dev.to_json());
    EXPECT_EQ(resumed.result.history.size(), reference.result.history.size());
    EXPECT_DOUBLE_EQ(resumed.result.final_loss, reference.result.final_loss);
  }
}

TEST(Trainer, ResumeRefusesAStateOfAnotherRun) {
  test::TempDir dir;
  RunState other("train");
  other.meta = {{"total_steps", 1000}, {"trainable", 1}};
  other.save(dir / "s.safetensors");
  Checkpointing ck;
  ck.path = dir / "s.safetensors";
  ck.resume = true;
  EXPECT_THROW(train_tiny(ck, 0), ConfigError);
}

}  // namespace
}  // namespace bipeft::train
