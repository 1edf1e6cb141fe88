// bipeft pretrain end to end on a tiny model: the output folder (HF model in the chosen storage dtype,
// log, loss curve, summary), the model loading back, and a run killed during a checkpoint write that
// resumes to the same bytes as an uninterrupted run.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "bipeft/io/safetensors.h"
#include "cli/cli_util.h"

namespace bipeft {
namespace {

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

}  // namespace
}  // namespace bipeft
