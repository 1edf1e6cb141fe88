// bipeft pretrain end to end on a tiny model: the output folder (HF model in the chosen storage dtype,
// log, loss curve, summary), the model loading back, and a run killed during a checkpoint write that
// resumes to the same bytes as an uninterrupted run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "bipeft/io/safetensors.h"
#include "cli/cli_util.h"

namespace bipeft {
namespace {

using test::max_relative_difference;

class PretrainCli : public test::TinyModelCliTest {
 protected:
  static std::string corpus(const test::TempDir& dir) {
    const auto path = dir / "corpus.txt";
    std::ofstream out(path);
    for (int i = 0; i < 40; ++i)
      out << "Sentence number " << i << " says the weather was " << (i % 3 ? "fine" : "rainy") << " today.\n";
    return path;
  }
  static std::string base(const std::string& text) {
    return "pretrain --model " + model() + " --text " + text +
           " --steps 6 --batch 4 --length 16 --heldout 0.2 --eval-every 3 --log-every 2 --quiet";
  }
};

TEST_F(PretrainCli, WritesALoadableModelLogCurveAndSummary) {
  test::TempDir tmp;
  const std::string out = tmp / "run";
  auto r = test::run_cli(base(corpus(tmp)) + " --save-dtype bf16 --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto line = nlohmann::json::parse(r.out);
  EXPECT_EQ(line["steps"], 6);
  EXPECT_TRUE(std::isfinite(line["heldout_loss"].get<double>()));
  for (const char* f : {"config.json", "log.jsonl", "loss_curve.svg", "summary.json", "model/config.json",
                        "model/model.safetensors", "model/spiece.model"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  EXPECT_FALSE(std::filesystem::exists(out + "/pretrain_state.safetensors"));
  const auto config = nlohmann::json::parse(test::slurp(out + "/model/config.json"));
  EXPECT_EQ(config["torch_dtype"], "bfloat16");
  auto reader = io::SafetensorsReader::open(out + "/model/model.safetensors");
  EXPECT_EQ(reader.entry("shared.weight").dtype_name, "BF16");
  const auto summary = nlohmann::json::parse(test::slurp(out + "/summary.json"));
  EXPECT_EQ(summary["result"]["heldout_curve"].size(), 3u);  // steps 0, 3, 6
  EXPECT_NE(test::slurp(out + "/loss_curve.svg").find("held-out chunks"), std::string::npos);
  auto info = test::run_cli("info --model " + out + "/model");
  EXPECT_EQ(info.code, 0) << info.err;
  // The run's own config.json records the command line for --resume; the model keeps the T5 config.
  EXPECT_EQ(nlohmann::json::parse(test::slurp(out + "/config.json"))["command"], "pretrain");
}

// --mix-task: the task's training rows join every step; the summary and the run's config name them, and
// the same run without them ends on other weights.
TEST_F(PretrainCli, MixedTaskRowsAreRecordedAndChangeTheRun) {
  test::TempDir tmp;
  const std::string text = corpus(tmp), rte = test::source_path("examples/data/rte");
  auto r = test::run_cli(base(text) + " --mix-task rte=" + rte + " --task-rows 2 --mix-max 40 --out " + (tmp / "mixed"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(test::slurp(tmp / "mixed/summary.json"));
  EXPECT_EQ(summary["task_mixture"]["rte"], 40);
  const auto config = nlohmann::json::parse(test::slurp(tmp / "mixed/config.json"));
  EXPECT_EQ(config["options"]["pretrain"]["task_rows"], 2) << config.dump();
  auto plain = test::run_cli(base(text) + " --out " + (tmp / "plain"));
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_NE(test::slurp(tmp / "mixed/model/model.safetensors"), test::slurp(tmp / "plain/model/model.safetensors"));
  EXPECT_TRUE(nlohmann::json::parse(test::slurp(tmp / "plain/summary.json"))["task_mixture"].empty());
}

TEST_F(PretrainCli, KilledDuringACheckpointResumesToTheSameModel) {
  test::TempDir tmp;
  const auto text = corpus(tmp);
  const std::string ref = tmp / "ref", run = tmp / "run";
  auto r = test::run_cli(base(text) + " --checkpoint-every 2 --out " + ref);
  ASSERT_EQ(r.code, 0) << r.err;
  auto killed = test::run_cli("true; BIPEFT_FAULT_KILL_IN_SAVE=2 " + std::string(BIPEFT_BINARY) + " " + base(text) +
                              " --checkpoint-every 2 --out " + run);
  EXPECT_NE(killed.code, 0);
  ASSERT_TRUE(std::filesystem::exists(run + "/pretrain_state.safetensors"));
  auto resumed = test::run_cli("pretrain --resume " + run + " --quiet");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(test::slurp(run + "/model/model.safetensors"), test::slurp(ref + "/model/model.safetensors"));
  const auto a = nlohmann::json::parse(test::slurp(ref + "/summary.json"))["result"];
  const auto b = nlohmann::json::parse(test::slurp(run + "/summary.json"))["result"];
  EXPECT_EQ(a["heldout_curve"], b["heldout_curve"]);
  EXPECT_EQ(a["train_curve"], b["train_curve"]);
  auto again = test::run_cli("pretrain --resume " + run + " --quiet");
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.err.find("finished"), std::string::npos) << again.err;
}

TEST_F(PretrainCli, TwoProcessesPretrainLikeOneAndResumeAsTwo) {
  test::TempDir tmp;
  const auto text = corpus(tmp);
  const std::string one = tmp / "one", two = tmp / "two", cut = tmp / "cut";
  const std::string args = base(text) + " --dropout 0 --checkpoint-every 2";
  auto r1 = test::run_cli(args + " --out " + one);
  ASSERT_EQ(r1.code, 0) << r1.err;
  auto r2 = test::run_cli(args + " --nproc 2 --out " + two);
  ASSERT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(r2.lines().size(), 1u) << "only rank 0 prints the result: " << r2.out;
  EXPECT_LE(max_relative_difference(two + "/model/model.safetensors", one + "/model/model.safetensors"), 1e-5);
  const auto h1 = nlohmann::json::parse(test::slurp(one + "/summary.json"))["result"]["heldout_curve"];
  const auto h2 = nlohmann::json::parse(test::slurp(two + "/summary.json"))["result"]["heldout_curve"];
  ASSERT_EQ(h1.size(), h2.size());
  for (size_t i = 0; i < h1.size(); ++i) EXPECT_NEAR(h1[i][1].get<double>(), h2[i][1].get<double>(), 1e-5);
  // Killed while saving its second checkpoint (step 4), then resumed as two processes: every worker
  // loads rank 0's step-2 state, and the run ends where the uninterrupted one did.
  auto killed = test::run_cli("true; BIPEFT_FAULT_KILL_IN_SAVE=2 " + std::string(BIPEFT_BINARY) + " " + args +
                              " --nproc 2 --out " + cut);
  EXPECT_NE(killed.code, 0);
  ASSERT_TRUE(std::filesystem::exists(cut + "/pretrain_state.safetensors")) << killed.err;
  auto resumed = test::run_cli("pretrain --resume " + cut + " --nproc 2 --quiet");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_LE(max_relative_difference(cut + "/model/model.safetensors", one + "/model/model.safetensors"), 1e-5);
  EXPECT_FALSE(std::filesystem::exists(cut + "/pretrain_state.safetensors"));
}

}  // namespace
}  // namespace bipeft
