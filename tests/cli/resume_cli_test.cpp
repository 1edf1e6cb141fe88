// Checkpoint and resume through the built binary: a search (with retrain) killed with SIGKILL at
// several moments, one of them in the middle of writing a checkpoint, and resumed with
// `bipeft search --resume DIR` ends with the same structure, bit-identical adapter weights, the same
// scores and the same trace as an uninterrupted run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "bipeft/cli/resume.h"
#include "bipeft/io/safetensors.h"
#include "cli/cli_util.h"

namespace bipeft {
namespace {

using test::run_cli;
using test::slurp;
using test::events_of;
using test::spawn;
using test::log_has;

// Wall times differ between runs; everything else must not.
void strip_times(nlohmann::json& j) {
  if (j.is_object()) {
    for (const char* k : {"time_s", "seconds", "train_seconds", "eval_seconds", "search_seconds", "retrain_seconds",
                          "search_to_retrain"})
      j.erase(k);
    for (auto& [k, v] : j.items()) strip_times(v);
  } else if (j.is_array()) {
    for (auto& v : j) strip_times(v);
  }
}

// The events of a log without bookkeeping (checkpoint, resume) and times.
std::vector<nlohmann::json> comparable(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (auto e : events_of(path)) {
    const auto kind = e.value("event", "");
    if (kind == "checkpoint" || kind == "resume") continue;
    strip_times(e);
    out.push_back(e);
  }
  return out;
}

// Waits for `pid`; returns the signal that ended it (0 when it exited).
int wait_signal(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

class ResumeCli : public test::TinyModelCliTest {
 protected:
  static std::string base(int checkpoint_every = 3) {
    return "search --model " + model() + " --task sst2 --data " + sst2() +
           " --max-train 64 --batch 8 --epochs 20 --prune-begin-epoch 0 --max-triggers 5 --lr 1e-2 --budget 1500"
           " --retrain --retrain-epochs 2 --retrain-batch 16 --log-every 1 --dropout 0.1 --quiet --checkpoint-every " + std::to_string(checkpoint_every);
  }
  static void SetUpTestSuite() {
    TinyModelCliTest::SetUpTestSuite();
    ref_ = new test::TempDir();
    auto r = run_cli(base() + " --out " + (*ref_ / "run"));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete ref_;
    ref_ = nullptr;
    TinyModelCliTest::TearDownTestSuite();
  }
  static std::string ref() { return *ref_ / "run"; }

  // Resumes `dir` and checks it against the uninterrupted reference.
  static void resume_and_compare(const std::string& dir, const std::string& what) {
    auto r = run_cli("search --resume " + dir + " --quiet");
    ASSERT_EQ(r.code, 0) << what << ": " << r.err;
    EXPECT_EQ(nlohmann::json::parse(slurp(dir + "/structure.json")), nlohmann::json::parse(slurp(ref() + "/structure.json")))
        << what;
    auto mine = io::SafetensorsReader::open(dir + "/adapter/adapter.safetensors").load_all();
    auto theirs = io::SafetensorsReader::open(ref() + "/adapter/adapter.safetensors").load_all();
    ASSERT_EQ(mine.size(), theirs.size()) << what;
    for (size_t i = 0; i < mine.size(); ++i) {
      EXPECT_EQ(mine[i].first, theirs[i].first);
      EXPECT_TRUE(mine[i].second.equal(theirs[i].second)) << what << ": " << mine[i].first << " differs";
    }
    auto s1 = nlohmann::json::parse(slurp(dir + "/scores.json")), s2 = nlohmann::json::parse(slurp(ref() + "/scores.json"));
    strip_times(s1);
    strip_times(s2);
    EXPECT_EQ(s1, s2) << what;
    EXPECT_EQ(comparable(dir + "/trace.jsonl"), comparable(ref() + "/trace.jsonl")) << what;
    EXPECT_EQ(comparable(dir + "/retrain_log.jsonl"), comparable(ref() + "/retrain_log.jsonl")) << what;
    for (const char* f : {"search_state.safetensors", "retrain_state.safetensors"})
      EXPECT_FALSE(std::filesystem::exists(dir + "/" + f)) << what << ": " << f << " left behind";
    for (const auto& f : std::filesystem::directory_iterator(dir))
      EXPECT_EQ(f.path().filename().string().find(".tmp."), std::string::npos) << what << ": " << f.path() << " left behind";
  }

 private:
  static inline test::TempDir* ref_ = nullptr;
};

TEST_F(ResumeCli, ReferenceRunCheckpointedAndCleanedUp) {
  auto trace = events_of(ref() + "/trace.jsonl");
  int checkpoints = 0;
  for (const auto& e : trace) checkpoints += e.value("event", "") == "checkpoint";
  EXPECT_GE(checkpoints, 3);
  EXPECT_TRUE(std::filesystem::exists(ref() + "/summary.json"));
  EXPECT_FALSE(std::filesystem::exists(ref() + "/search_state.safetensors"));
}

TEST_F(ResumeCli, SigkillAtSeveralMomentsThenResumeEqualsTheUninterruptedRun) {
  struct Point {
    std::string what, log;
    std::function<bool(const nlohmann::json&)> when;
  };
  const std::vector<Point> points = {
      {"before the first checkpoint", "trace.jsonl",
       [](const nlohmann::json& e) { return e.value("event", "") == "step" && e.value("step", 0) >= 1; }},
      {"mid-search, after a checkpoint", "trace.jsonl",
       [](const nlohmann::json& e) { return e.value("event", "") == "step" && e.value("step", 0) >= 10; }},
      {"during the retrain", "retrain_log.jsonl",
       [](const nlohmann::json& e) { return e.value("event", "") == "step" && e.value("step", 0) >= 4; }},
  };
  for (const auto& p : points) {
    test::TempDir tmp;
    const std::string dir = tmp / "run";
    pid_t pid = spawn(base() + " --out " + dir, tmp.str());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    bool hit = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (log_has(dir + "/" + p.log, p.when)) {
        hit = true;
        break;
      }
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(hit) << p.what << ": the run ended or stalled before the kill point; " << slurp(tmp / "stderr");
    kill(pid, SIGKILL);
    ASSERT_EQ(wait_signal(pid), SIGKILL) << p.what;
    EXPECT_FALSE(std::filesystem::exists(dir + "/summary.json")) << p.what << ": the run finished before the kill";
    resume_and_compare(dir, p.what);
  }
}

TEST_F(ResumeCli, SigkillDuringACheckpointWriteKeepsThePreviousCheckpoint) {
  test::TempDir tmp;
  const std::string dir = tmp / "run";
  // The test hook kills the process half-way through writing the temporary file of its 3rd save.
  pid_t pid = spawn(base() + " --out " + dir, tmp.str(), "BIPEFT_FAULT_KILL_IN_SAVE=3");
  ASSERT_EQ(wait_signal(pid), SIGKILL) << slurp(tmp / "stderr");
  bool torn = false;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    torn = torn || f.path().filename().string().find("search_state.safetensors.tmp.") == 0;
  EXPECT_TRUE(torn) << "the kill should leave a half-written temporary file";
  // The complete state is the 2nd checkpoint (step 6), valid and readable.
  EXPECT_NO_THROW(io::SafetensorsReader::open(dir + "/search_state.safetensors"));
  resume_and_compare(dir, "during a checkpoint write");
}

TEST_F(ResumeCli, ResumeRefusesFinishedRunsChangedOptionsAndForeignFolders) {
  auto finished = run_cli("search --resume " + ref() + " --quiet");
  EXPECT_EQ(finished.code, 2);
  EXPECT_NE(finished.err.find("the run finished"), std::string::npos) << finished.err;

  test::TempDir tmp;
  const std::string dir = tmp / "run";
  pid_t pid = spawn(base() + " --out " + dir, tmp.str(), "BIPEFT_FAULT_KILL_IN_SAVE=2");
  ASSERT_EQ(wait_signal(pid), SIGKILL);
  auto changed = run_cli(base() + " --arch-lr 0.2 --out " + dir + " --resume " + dir);
  EXPECT_EQ(changed.code, 2);
  EXPECT_NE(changed.err.find("search.arch_lr"), std::string::npos) << changed.err;
  auto as_train = run_cli("train --resume " + dir + " --quiet");
  EXPECT_EQ(as_train.code, 2);
  EXPECT_NE(as_train.err.find("holds a 'search' run"), std::string::npos) << as_train.err;
  auto nowhere = run_cli("search --resume " + (tmp / "missing") + " --quiet");
  EXPECT_EQ(nowhere.code, 2);
  EXPECT_NE(nowhere.err.find("no config.json"), std::string::npos) << nowhere.err;
  // The same full command line plus --resume is accepted.
  auto same = run_cli(base() + " --out " + dir + " --resume " + dir);
  EXPECT_EQ(same.code, 0) << same.err;
}

TEST_F(ResumeCli, SigtermSavesTheStateAndExits130) {
  test::TempDir tmp;
  const std::string dir = tmp / "run";
  pid_t pid = spawn(base(0) + " --out " + dir, tmp.str());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline &&
         !log_has(dir + "/trace.jsonl", [](const nlohmann::json& e) { return e.value("step", 0) >= 5; })) {
    ASSERT_EQ(waitpid(pid, nullptr, WNOHANG), 0) << "the run ended early: " << slurp(tmp / "stderr");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "SIGTERM must end the run cleanly";
  EXPECT_EQ(WEXITSTATUS(status), 130) << slurp(tmp / "stderr");
  EXPECT_NE(slurp(tmp / "stderr").find("state saved"), std::string::npos) << slurp(tmp / "stderr");
  EXPECT_TRUE(std::filesystem::exists(dir + "/search_state.safetensors"));
  resume_and_compare(dir, "after SIGTERM");
}

TEST_F(ResumeCli, TrainKilledAfterACheckpointResumesToTheSameAdapterAndScores) {
  const std::string args = "train --model " + model() + " --task sst2 --data " + sst2() +
                           " --method lora,bitfit --rank 4 --epochs 3 --batch 16 --dropout 0.1 --log-every 1"
                           " --checkpoint-every 4 --quiet";
  test::TempDir tmp;
  auto ref_run = run_cli(args + " --out " + (tmp / "ref"));
  ASSERT_EQ(ref_run.code, 0) << ref_run.err;
  const std::string dir = tmp / "run";
  pid_t pid = spawn(args + " --out " + dir, tmp.str());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool hit = false;
  while (!hit && std::chrono::steady_clock::now() < deadline) {
    hit = log_has(dir + "/log.jsonl", [](const nlohmann::json& e) {
      return e.value("event", "") == "step" && e.value("step", 0) >= 25;  // past the first epoch's evaluation
    });
    ASSERT_EQ(waitpid(pid, nullptr, WNOHANG), 0) << "the run ended before the kill: " << slurp(tmp / "stderr");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(hit);
  kill(pid, SIGKILL);
  ASSERT_EQ(wait_signal(pid), SIGKILL);
  auto r = run_cli("train --resume " + dir + " --quiet --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  auto mine = io::SafetensorsReader::open(dir + "/adapter.safetensors").load_all();
  auto theirs = io::SafetensorsReader::open(tmp / "ref/adapter.safetensors").load_all();
  ASSERT_EQ(mine.size(), theirs.size());
  for (size_t i = 0; i < mine.size(); ++i) EXPECT_TRUE(mine[i].second.equal(theirs[i].second)) << mine[i].first;
  auto s1 = nlohmann::json::parse(slurp(dir + "/scores.json")), s2 = nlohmann::json::parse(slurp(tmp / "ref/scores.json"));
  strip_times(s1);
  strip_times(s2);
  EXPECT_EQ(s1, s2);
  EXPECT_EQ(comparable(dir + "/log.jsonl"), comparable(tmp / "ref/log.jsonl"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/train_state.safetensors"));
}

TEST(ResumeCommandLine, ARuntimeFlagGivenAnewReplacesOnlyItsSavedFlagNotAnEqualValue) {
  // The saved run had --log-every 2 and --nproc 2; `--resume DIR --nproc 2` once dropped the saved "2"
  // after --log-every too (it matched the new flag's value), and the run failed to parse.
  test::TempDir tmp;
  const std::string dir = tmp / "run";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json")
      << R"({"command": "pretrain", "argv": ["pretrain", "--log-every", "2", "--quiet", "--nproc", "2", "--out", "old"]})";
  std::vector<std::string> args = {"bipeft", "pretrain", "--resume", dir, "--nproc", "2"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  const auto expanded = cli::expand_resume(static_cast<int>(argv.size()), argv.data());
  ASSERT_TRUE(expanded.has_value());
  EXPECT_EQ(*expanded, (std::vector<std::string>{"pretrain", "--log-every", "2", "--out", dir, "--resume", dir,
                                                 "--nproc", "2"}));
}

}  // namespace
}  // namespace bipeft
