// Data-parallel runs through the built binary on 127.0.0.1: `--nproc 2` (and RANK/WORLD_SIZE
// launches) give the one-process structure and weights; a dead or missing worker ends the run with a
// clear message instead of a hang; only rank 0 writes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "bipeft/dist/communicator.h"
#include "bipeft/io/safetensors.h"
#include "cli/cli_util.h"

namespace bipeft {
namespace {

using test::max_relative_difference;

using test::events_of;
using test::log_has;
using test::run_cli;
using test::slurp;
using test::spawn;

// The trigger decisions of a search trace: (step, removed modules, fixed ranks) per trigger.
std::vector<nlohmann::json> triggers_of(const std::string& trace) {
  std::vector<nlohmann::json> out;
  for (const auto& e : events_of(trace))
    if (e.value("event", "") == "trigger") out.push_back({e["step"], e["removed"], e["fixed"]});
  return out;
}

// The train/validation losses of a run's step events (train: "loss"; search: "loss_train", "loss_val").
std::vector<double> step_losses(const std::string& log) {
  std::vector<double> out;
  for (const auto& e : events_of(log)) {
    if (e.value("event", "") != "step") continue;
    for (const char* k : {"loss", "loss_train", "loss_val"})
      if (e.contains(k)) out.push_back(e[k].get<double>());
  }
  return out;
}

// Waits up to `seconds` for `pid`; its exit code, or -1 if it is still running (then it is killed).
int wait_exit(pid_t pid, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// Waits up to two minutes until `log` holds a step event with step >= `step`.
bool wait_for_step(const std::string& log, int step) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (log_has(log, [&](const nlohmann::json& e) { return e.value("event", "") == "step" && e.value("step", 0) >= step; }))
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

class DistCli : public test::TinyModelCliTest {
 protected:
  static std::string search_args() {
    return "search --model " + model() + " --task sst2 --data " + sst2() +
           " --max-train 64 --batch 8 --epochs 20 --prune-begin-epoch 0 --max-triggers 5 --lr 1e-2 --budget 1500"
           " --retrain --retrain-epochs 2 --retrain-batch 16 --log-every 1 --quiet";
  }
  static std::string train_args(int batch = 8) {
    return "train --model " + model() + " --task sst2 --data " + sst2() + " --method lora --rank 4 --max-train 64 --batch " +
           std::to_string(batch) + " --lr 1e-2 --log-every 1 --quiet";
  }
};

TEST_F(DistCli, TwoProcessesFindTheOneProcessStructureAndWeights) {
  test::TempDir tmp;
  auto one = run_cli(search_args() + " --out " + (tmp / "one"));
  ASSERT_EQ(one.code, 0) << one.err;
  auto two = run_cli(search_args() + " --nproc 2 --out " + (tmp / "two"));
  ASSERT_EQ(two.code, 0) << two.err;
  ASSERT_EQ(two.lines().size(), 1u) << "only rank 0 prints the result: " << two.out;
  // Same trigger decisions at the same steps, same structure, weights within 1e-5, same scores.
  const auto t1 = triggers_of(tmp / "one/trace.jsonl"), t2 = triggers_of(tmp / "two/trace.jsonl");
  EXPECT_EQ(t1.size(), 5u);
  EXPECT_EQ(t1, t2);
  EXPECT_EQ(nlohmann::json::parse(slurp(tmp / "one/structure.json")), nlohmann::json::parse(slurp(tmp / "two/structure.json")));
  EXPECT_LE(max_relative_difference(tmp / "one/adapter/adapter.safetensors", tmp / "two/adapter/adapter.safetensors"), 1e-5);
  auto s1 = nlohmann::json::parse(slurp(tmp / "one/scores.json")), s2 = nlohmann::json::parse(slurp(tmp / "two/scores.json"));
  EXPECT_EQ(s1["test"], s2["test"]);
  // The global losses agree step by step.
  std::vector<double> l1, l2;
  for (const auto& e : events_of(tmp / "one/trace.jsonl"))
    if (e.value("event", "") == "step") l1.push_back(e["loss_train"]);
  for (const auto& e : events_of(tmp / "two/trace.jsonl"))
    if (e.value("event", "") == "step") l2.push_back(e["loss_train"]);
  ASSERT_EQ(l1.size(), l2.size());
  for (size_t i = 0; i < l1.size(); ++i) EXPECT_NEAR(l1[i], l2[i], 1e-5 * std::max(1.0, std::abs(l1[i]))) << "step " << i + 1;
}

TEST_F(DistCli, AStoppedMultiProcessRunResumesAsOneProcess) {
  test::TempDir tmp;
  auto one = run_cli(search_args() + " --out " + (tmp / "one"));
  ASSERT_EQ(one.code, 0) << one.err;
  // SIGTERM to the launcher reaches every worker; they agree on the step, rank 0 saves the state.
  const pid_t launcher = spawn(search_args() + " --nproc 2 --checkpoint-every 0 --out " + (tmp / "two"), tmp.str());
  ASSERT_TRUE(wait_for_step(tmp / "two/trace.jsonl", 12)) << slurp(tmp / "stderr");
  kill(launcher, SIGTERM);
  EXPECT_EQ(wait_exit(launcher, 60), 130) << slurp(tmp / "stderr");
  ASSERT_TRUE(std::filesystem::exists(tmp / "two/search_state.safetensors")) << slurp(tmp / "stderr");
  EXPECT_FALSE(std::filesystem::exists(tmp / "two/summary.json"));
  // The saved command line carries --nproc 2; the resume runs as one process all the same.
  auto resumed = run_cli("search --resume " + (tmp / "two") + " --quiet");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(nlohmann::json::parse(slurp(tmp / "one/structure.json")), nlohmann::json::parse(slurp(tmp / "two/structure.json")));
  EXPECT_LE(max_relative_difference(tmp / "one/adapter/adapter.safetensors", tmp / "two/adapter/adapter.safetensors"), 1e-5);
}

TEST_F(DistCli, TrainingWithTwoProcessesMatchesOneAndAnOddBatchSplitsUnevenly) {
  test::TempDir tmp;
  // Batch 7 over 2 processes: shards of 3 and 4 rows, weighted by their target tokens.
  const std::string args = train_args(7) + " --epochs 2";
  auto one = run_cli(args + " --out " + (tmp / "one"));
  ASSERT_EQ(one.code, 0) << one.err;
  auto two = run_cli(args + " --nproc 2 --out " + (tmp / "two"));
  ASSERT_EQ(two.code, 0) << two.err;
  EXPECT_LE(max_relative_difference(tmp / "one/adapter.safetensors", tmp / "two/adapter.safetensors"), 1e-5);
  const auto test_of = [](const std::string& f) { return nlohmann::json::parse(slurp(f))["result"]["test"]; };
  ASSERT_FALSE(test_of(tmp / "one/scores.json").is_null());  // (it compared two missing fields before)
  EXPECT_EQ(test_of(tmp / "one/scores.json"), test_of(tmp / "two/scores.json"));
}

TEST_F(DistCli, CompareWithTwoProcessesGivesTheOneProcessCellsForEverySearchMethod) {
  test::TempDir tmp;
  const std::string args = "compare --model " + model() + " --data " + test::source_path("examples/data") +
                           " --tasks rte --methods bipeft,s3delta,prunepeft,autopeft,lora --budget 700 --seeds 1"
                           " --epochs 2 --max-train 32 --batch 8 --lr 1e-2 --retrain-lr 1e-2 --manual-rank 2 --quiet";
  auto one = run_cli(args + " --out " + (tmp / "one"));
  ASSERT_EQ(one.code, 0) << one.err;
  auto two = run_cli(args + " --nproc 2 --out " + (tmp / "two"));
  ASSERT_EQ(two.code, 0) << two.err;
  int structures = 0, logs = 0;
  size_t compared = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(tmp / "one/cells")) {
    const auto rel = std::filesystem::relative(f.path(), tmp / "one").string();
    const auto name = f.path().filename().string();
    if (f.path().parent_path().filename() == "adapter") continue;  // each cell's trained adapter (compared by its scores)
    if (name == "structure.json") {
      ++structures;
      EXPECT_EQ(nlohmann::json::parse(slurp(f.path().string())), nlohmann::json::parse(slurp(tmp / "two/" + rel))) << rel;
    } else if (name == "train_log.jsonl" || name == "trace.jsonl") {  // the global losses, step by step
      ++logs;
      const auto a = step_losses(f.path().string()), b = step_losses(tmp / "two/" + rel);
      ASSERT_EQ(a.size(), b.size()) << rel;
      compared += a.size();
      // Step 1 agrees to ~5e-8 relative; later steps drifted by up to 2.8e-4 relative on an AVX-512 host
      // (2026-12-05; 1e-5 held on the CI host), while structures and test scores stayed equal. Likely
      // cause: at lr 1e-2 AdamW's first updates g / (sqrt(v) + eps) turn rounding differences between
      // a summed-shard and a whole-batch gradient of near-zero entries into different step sizes.
      for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-3 * std::max(1.0, std::abs(a[i]))) << rel << " line " << i;
    } else if (name == "result.json") {
      auto a = nlohmann::json::parse(slurp(f.path().string())), b = nlohmann::json::parse(slurp(tmp / "two/" + rel));
      EXPECT_EQ(a["test"], b["test"]) << rel;
      EXPECT_EQ(a["trainable_params"], b["trainable_params"]) << rel;
    }
  }
  EXPECT_EQ(structures, 4) << "one structure per search method";
  EXPECT_EQ(logs, 5 + 4) << "a train log per cell and a trace per searched cell";
  EXPECT_GE(compared, 5u) << "every train log has at least its last step";
}

TEST_F(DistCli, AWorkerKilledMidRunEndsTheOtherWithAClearErrorNotAHang) {
  test::TempDir tmp;
  const int port = dist::free_local_port();
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port);
  std::filesystem::create_directories(tmp / "r0");
  std::filesystem::create_directories(tmp / "r1");
  const std::string args = train_args() + " --epochs 500 --dist-timeout 600 --out " + (tmp / "run");
  const pid_t r0 = spawn(args, tmp / "r0", env + " RANK=0");
  const pid_t r1 = spawn(args, tmp / "r1", env + " RANK=1");
  ASSERT_TRUE(wait_for_step(tmp / "run/log.jsonl", 3)) << slurp(tmp / "r0/stderr");
  kill(r1, SIGKILL);
  waitpid(r1, nullptr, 0);
  const auto killed = std::chrono::steady_clock::now();
  const int code = wait_exit(r0, 60);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_EQ(code, 1) << slurp(tmp / "r0/stderr");
  EXPECT_LT(seconds, 30.0) << "rank 0 should notice the dead peer long before --dist-timeout (600 s)";
  const auto err = slurp(tmp / "r0/stderr");
  EXPECT_NE(err.find("another worker died"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "run/scores.json"));
}

TEST_F(DistCli, TheLauncherStopsTheOthersWhenAWorkerDies) {
  test::TempDir tmp;
  const pid_t launcher = spawn(train_args() + " --epochs 500 --nproc 2 --out " + (tmp / "run"), tmp.str());
  ASSERT_TRUE(wait_for_step(tmp / "run/log.jsonl", 3)) << slurp(tmp / "stderr");
  // Rank 1 is the launcher's child whose environment says RANK=1.
  pid_t rank1 = -1;
  std::ifstream children("/proc/" + std::to_string(launcher) + "/task/" + std::to_string(launcher) + "/children");
  for (pid_t child; children >> child;) {
    const auto environ = std::string(1, '\0') + slurp("/proc/" + std::to_string(child) + "/environ");
    if (environ.find(std::string("\0RANK=1\0", 8)) != std::string::npos)
      rank1 = child;
  }
  ASSERT_GT(rank1, 0) << "no rank-1 worker among the launcher's children";
  kill(rank1, SIGKILL);
  const int code = wait_exit(launcher, 60);
  EXPECT_NE(code, 0);
  EXPECT_NE(code, -1) << "the launcher did not end within 60 s";
  const auto err = slurp(tmp / "stderr");
  EXPECT_NE(err.find("worker 1 of 2 exited with code 137"), std::string::npos) << err;
}

TEST_F(DistCli, AMissingWorkerEndsTheRendezvousWithinTheTimeout) {
  test::TempDir tmp;
  const std::string env = "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(dist::free_local_port());
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = spawn(train_args() + " --epochs 1 --dist-timeout 3 --out " + (tmp / "run"), tmp.str(), env);
  const int code = wait_exit(pid, 60);
  EXPECT_EQ(code, 1);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30.0);
  const auto err = slurp(tmp / "stderr");
  EXPECT_NE(err.find("rendezvous at 127.0.0.1:"), std::string::npos) << err;
  EXPECT_NE(err.find("MASTER_PORT"), std::string::npos) << err;
}

TEST_F(DistCli, BadLaunchSettingsAreUsageErrors) {
  test::TempDir tmp;
  auto no_rank = run_cli(train_args() + " --epochs 1 --out " + (tmp / "a"), "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1");
  EXPECT_EQ(no_rank.code, 2) << no_rank.err;
  EXPECT_NE(no_rank.err.find("RANK is not set"), std::string::npos) << no_rank.err;
  auto zero = run_cli(train_args() + " --epochs 1 --nproc 0 --out " + (tmp / "b"));
  EXPECT_EQ(zero.code, 2) << zero.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "b"));
}

}  // namespace
}  // namespace bipeft
