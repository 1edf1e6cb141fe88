// bipeft compare on a tiny model: every (task, method, seed) cell is run once, the tables hold every
// method and task, a resumed compare recomputes only the missing cell, and bad method/task names are
// refused before anything is written.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli/cli_util.h"

namespace bipeft {
namespace {

class CompareCli : public test::TinyModelCliTest {
 protected:
  /// The compare command line with `tasks`, `methods` and `budget` (CLI11 appends repeated list flags).
  static std::string cmd(const std::string& tasks = "rte,sst2", const std::string& methods = "bipeft,random,s3delta,lora",
                         const std::string& budget = "700") {
    return "compare --model " + model() + " --data " + test::source_path("examples/data") + " --tasks " + tasks +
           " --methods " + methods + " --budget " + budget +
           " --seeds 2 --epochs 1 --max-train 32 --batch 8 --lr 1e-2 --retrain-lr 1e-2 --manual-rank 2 --quiet";
  }
  static std::string base() { return cmd(); }
};

TEST_F(CompareCli, RunsEveryCellOnceWritesTablesAndResumesOnlyMissingCells) {
  test::TempDir tmp;
  const std::string out = tmp / "cmp";
  auto r = test::run_cli(base() + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  auto line = nlohmann::json::parse(r.out);
  EXPECT_EQ(line["cells"], 16);
  EXPECT_EQ(line["computed"], 16);
  for (const char* f : {"table1.md", "table3.md", "results.json", "scores.svg", "config.json", "log.jsonl"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  const auto results = nlohmann::json::parse(test::slurp(out + "/results.json"));
  EXPECT_EQ(results["cells"].size(), 16u);
  EXPECT_EQ(results["cells_missing"], 0);
  for (const char* m : {"bipeft", "random", "s3delta", "lora"}) {
    ASSERT_TRUE(results["table"].contains(m)) << m;
    EXPECT_EQ(results["table"][m]["tasks"]["rte"]["test"]["n"], 2) << m;
    EXPECT_FALSE(results["table"][m]["average"].is_null()) << m;
  }
  // Searched cells stay within the budget; the manual LoRA has its own size.
  for (const auto& c : results["cells"]) {
    if (c["searched"].get<bool>()) {
      EXPECT_LE(c["trainable_params"].get<double>(), 700) << c.dump();
      EXPECT_GT(c["search_seconds"].get<double>(), 0) << c.dump();
    }
  }
  const auto t1 = test::slurp(out + "/table1.md"), t3 = test::slurp(out + "/table3.md");
  for (const char* m : {"| bipeft |", "| random |", "| s3delta |", "| lora |"}) EXPECT_NE(t1.find(m), std::string::npos) << m;
  EXPECT_NE(t3.find("| bipeft |"), std::string::npos);
  EXPECT_EQ(t3.find("| lora |"), std::string::npos);  // no search time for manual methods
  EXPECT_EQ(std::filesystem::exists(out + "/cells/rte/bipeft/seed-42/search_state.safetensors"), false);
  // Every trained cell keeps its adapter, with the structure it trained (the searched one for bipeft).
  for (const char* cell : {"rte/bipeft/seed-42", "sst2/lora/seed-43", "rte/random/seed-43"})
    EXPECT_TRUE(std::filesystem::exists(out + "/cells/" + cell + "/adapter/adapter.safetensors")) << cell;
  EXPECT_EQ(nlohmann::json::parse(test::slurp(out + "/cells/rte/bipeft/seed-42/adapter/structure.json"))["modules"],
            nlohmann::json::parse(test::slurp(out + "/cells/rte/bipeft/seed-42/structure.json"))["modules"]);

  // A finished compare is refused; with one cell removed (and the finished marker), --resume recomputes
  // only that cell and the tables come back with the same other cells.
  auto again = test::run_cli("compare --resume " + out + " --quiet");
  EXPECT_EQ(again.code, 2) << again.err;
  const auto kept_cell = test::slurp(out + "/cells/sst2/lora/seed-43/result.json");
  const auto searched_trace = test::slurp(out + "/cells/rte/s3delta/seed-43/trace.jsonl");
  std::filesystem::remove(out + "/cells/rte/s3delta/seed-43/result.json");
  std::filesystem::remove(out + "/results.json");
  auto resumed = test::run_cli("compare --resume " + out + " --quiet");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  line = nlohmann::json::parse(resumed.out);
  EXPECT_EQ(line["cells"], 16);
  EXPECT_EQ(line["computed"], 1);
  EXPECT_EQ(test::slurp(out + "/cells/sst2/lora/seed-43/result.json"), kept_cell);
  const auto redone = nlohmann::json::parse(test::slurp(out + "/cells/rte/s3delta/seed-43/result.json"));
  const auto before = results["cells"];
  for (const auto& c : before)
    if (c["task"] == "rte" && c["method"] == "s3delta" && c["seed"] == 43) {
      EXPECT_EQ(c["trainable_params"], redone["trainable_params"]);  // deterministic: the same structure
      EXPECT_EQ(c["test"], redone["test"]);
      EXPECT_EQ(c["search_seconds"], redone["search_seconds"]);  // the finished search's, not a new one's
    }
  // Its search had finished (structure.json): the resumed cell trained that structure without searching again.
  EXPECT_EQ(test::slurp(out + "/cells/rte/s3delta/seed-43/trace.jsonl"), searched_trace);
}

TEST_F(CompareCli, ShardsShareOneRunAndTheLastWritesTheSameTablesAsOneProcess) {
  test::TempDir tmp;
  const std::string sharded = tmp / "sharded", single = tmp / "single";
  const std::string grid = cmd("rte", "random,lora");
  auto first = test::run_cli(grid + " --shard 0/2 --out " + sharded);
  ASSERT_EQ(first.code, 0) << first.err;
  auto line = nlohmann::json::parse(first.out);
  EXPECT_EQ(line["computed"], 2);
  EXPECT_EQ(line["missing"], 2);
  EXPECT_FALSE(std::filesystem::exists(sharded + "/results.json")) << "tables wait for every cell";
  // Run order is seed-major (random-42, lora-42, random-43, lora-43): shard 0 takes cells 0 and 2.
  EXPECT_TRUE(std::filesystem::exists(sharded + "/cells/rte/random/seed-42/result.json"));
  EXPECT_FALSE(std::filesystem::exists(sharded + "/cells/rte/lora/seed-42/result.json"));
  auto second = test::run_cli("compare --resume " + sharded + " --shard 1/2 --quiet");
  ASSERT_EQ(second.code, 0) << second.err;
  line = nlohmann::json::parse(second.out);
  EXPECT_EQ(line["computed"], 2);
  EXPECT_EQ(line["cells"], 4);
  ASSERT_TRUE(std::filesystem::exists(sharded + "/results.json"));
  EXPECT_TRUE(std::filesystem::exists(sharded + "/log.shard-1.jsonl"));
  auto one = test::run_cli(grid + " --out " + single);
  ASSERT_EQ(one.code, 0) << one.err;
  for (const char* cell : {"rte/random/seed-42", "rte/lora/seed-42", "rte/random/seed-43", "rte/lora/seed-43"}) {
    const auto a = nlohmann::json::parse(test::slurp(sharded + "/cells/" + cell + "/result.json"));
    const auto b = nlohmann::json::parse(test::slurp(single + "/cells/" + cell + "/result.json"));
    EXPECT_EQ(a["test"], b["test"]) << cell;
    EXPECT_EQ(a["trainable_params"], b["trainable_params"]) << cell;
  }
  EXPECT_EQ(test::slurp(sharded + "/table1.md"), test::slurp(single + "/table1.md"));
  for (const char* shard : {"2/2", "1/0", "-1/2", "x", "1/2x", "1"}) {
    auto bad = test::run_cli(grid + " --shard " + shard + " --out " + (tmp / "bad"));
    EXPECT_EQ(bad.code, 2) << shard;
    EXPECT_NE(bad.err.find("--shard"), std::string::npos) << shard << ": " << bad.err;
    EXPECT_FALSE(std::filesystem::exists(tmp / "bad")) << shard;
  }
}

TEST_F(CompareCli, BadMethodsTasksAndBudgetsAreRefusedBeforeWriting) {
  test::TempDir tmp;
  const std::string out = tmp / "cmp";
  auto bad_method = test::run_cli(cmd("rte,sst2", "bipeft,nosuch") + " --out " + out);
  EXPECT_EQ(bad_method.code, 2);
  EXPECT_NE(bad_method.err.find("nosuch"), std::string::npos) << bad_method.err;
  auto bad_task = test::run_cli(cmd("rte,nosuchtask") + " --out " + out);
  EXPECT_EQ(bad_task.code, 2);
  EXPECT_NE(bad_task.err.find("nosuchtask"), std::string::npos) << bad_task.err;
  auto missing_folder = test::run_cli(cmd("mnli") + " --out " + out);
  EXPECT_EQ(missing_folder.code, 2);
  EXPECT_NE(missing_folder.err.find("mnli"), std::string::npos) << missing_folder.err;
  auto huge = test::run_cli(cmd("rte,sst2", "bipeft,lora", "1e9") + " --out " + out);
  EXPECT_EQ(huge.code, 2);
  EXPECT_NE(huge.err.find("--budget"), std::string::npos) << huge.err;
  auto twice = test::run_cli(cmd("rte", "lora,lora") + " --out " + out);
  EXPECT_EQ(twice.code, 2);
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace bipeft
