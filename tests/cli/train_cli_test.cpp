// `bipeft init`, `train` and `eval` through the built binary: outputs, schemas, exit codes.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli/cli_util.h"

namespace bipeft {
namespace {

using test::run_cli;
using test::slurp;

class TrainCli : public test::TinyModelCliTest {
};

TEST_F(TrainCli, InitWritesALoadableHfModelFolder) {
  for (const char* f : {"config.json", "model.safetensors", "spiece.model"})
    EXPECT_TRUE(std::filesystem::exists(model() + "/" + f)) << f;
  auto r = run_cli("info --model " + model());
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["d_model"], 32);
  EXPECT_EQ(j["vocab_size"], 32128);
}

TEST_F(TrainCli, TrainWritesAdapterLogScoresAndConfig) {
  test::TempDir out;
  auto r = run_cli("train --model " + model() + " --task sst2 --data " + sst2() +
                   " --method lora --rank 4 --targets q,v --epochs 1 --batch 32 --max-train 64 --log-every 1 --quiet --out " +
                   (out / "run"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  EXPECT_TRUE(summary["dev"].contains("accuracy"));
  for (const char* f : {"structure.json", "adapter.safetensors", "log.jsonl", "scores.json", "config.json"})
    EXPECT_TRUE(std::filesystem::exists(out / ("run/" + std::string(f)))) << f;
  std::set<std::string> events;
  std::istringstream log(slurp(out / "run/log.jsonl"));
  for (std::string line; std::getline(log, line);) {
    auto e = nlohmann::json::parse(line);
    ASSERT_TRUE(e["event"].is_string()) << line;
    ASSERT_TRUE(e["time_s"].is_number()) << line;
    events.insert(e["event"].get<std::string>());
  }
  EXPECT_EQ(events, (std::set<std::string>{"start", "step", "eval", "done"}));
  auto scores = nlohmann::json::parse(slurp(out / "run/scores.json"));
  EXPECT_EQ(scores["trainable_params"], 2 * 4 * (32 + 32) * 2);  // q,v in 1 enc + 1 dec block, r=4
  auto config = nlohmann::json::parse(slurp(out / "run/config.json"));
  EXPECT_EQ(config["producer"], "bipeft");
  EXPECT_EQ(config["options"]["task"], "sst2");

  auto e = run_cli("eval --model " + model() + " --adapter " + (out / "run") + " --task sst2 --data " + sst2() +
                   " --split dev --quiet");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(nlohmann::json::parse(e.out)["metrics"]["accuracy"], summary["dev"]["accuracy"]);
}

TEST_F(TrainCli, RankDecodingScoresWithTheLabelsAndTrainRecordsIt) {
  const std::string stsb = test::source_path("examples/data/stsb");
  auto e = run_cli("eval --model " + model() + " --task stsb --data " + stsb + " --split dev --decoding rank --quiet");
  ASSERT_EQ(e.code, 0) << e.err;
  const auto j = nlohmann::json::parse(e.out);
  EXPECT_EQ(j["decoding"], "rank");
  ASSERT_TRUE(j["metrics"].contains("pearson")) << e.out;
  // A random tiny model that greedy decoding makes a constant (or unparsable) answer for still ranks the
  // candidate values differently per example: a defined correlation, not the constant's 0.
  EXPECT_TRUE(j["metrics"]["pearson"].is_number()) << e.out;
  auto g = run_cli("eval --model " + model() + " --task stsb --data " + stsb + " --split dev --quiet");
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(nlohmann::json::parse(g.out)["decoding"], "generate");

  test::TempDir out;
  auto t = run_cli("train --model " + model() + " --task sst2 --data " + sst2() + " --method bitfit --epochs 1 " +
                   "--max-train 32 --decoding rank --quiet --out " + (out / "run"));
  ASSERT_EQ(t.code, 0) << t.err;
  const auto config = nlohmann::json::parse(slurp(out / "run/config.json"));
  EXPECT_EQ(config["options"]["train"]["decoding"], "rank") << config.dump();

  auto bad = run_cli("eval --model " + model() + " --task stsb --data " + stsb + " --decoding beam");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--decoding"), std::string::npos) << bad.err;
}

TEST_F(TrainCli, NonEmptyOutputFolderIsRefusedWithoutOverwrite) {
  test::TempDir out;
  std::ofstream(out / "keep.txt") << "user data";
  auto r = run_cli("train --model " + model() + " --task sst2 --data " + sst2() + " --method bitfit --out " + out.str());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(out / "keep.txt"), "user data");
}

TEST_F(TrainCli, BadArgumentsAreUsageErrors) {
  const std::string base = "train --model " + model() + " --task sst2 --data " + sst2();
  struct Case {
    std::string args, message;
  };
  for (const auto& c : std::vector<Case>{
           {base + " --out /tmp/x", "--structure FILE or --method"},
           {base + " --method dora --out /tmp/x", "unknown PEFT method 'dora'"},
           {base + " --method lora --targets wi_0 --out /tmp/x", "match no module"},
           {"train --model " + model() + " --task nosuchtask --data " + sst2() + " --method lora --out /tmp/x", "nosuchtask"},
           {"train --model /nonexistent --task sst2 --data " + sst2() + " --method lora --out /tmp/x", "/nonexistent"},
           {base + " --method lora --epochs 0 --out /tmp/x", "--epochs"},
           {base + " --method lora --epochs abc --out /tmp/x", "--epochs"},
       }) {
    auto r = run_cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
  }
}

TEST_F(TrainCli, UnwritableOutputIsARuntimeFailure) {
  auto r = run_cli("train --model " + model() + " --task sst2 --data " + sst2() + " --method lora --out /proc/bipeft");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("/proc/bipeft"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bipeft
