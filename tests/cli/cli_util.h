#pragma once
// Running the built `bipeft` binary from tests: exit code, stdout, stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/io/safetensors.h"
#include "test_util.h"

namespace bipeft::test {

struct CliResult {
  int code = -1;
  std::string out, err;
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Runs `bipeft <args>` (a shell fragment) with extra environment `env` ("NAME=value ...") and captures
/// its outputs.
inline CliResult run_cli(const std::string& args, const std::string& env = "") {
  TempDir tmp;
  const std::string cmd = env + (env.empty() ? "" : " ") + std::string(BIPEFT_BINARY) + " " + args + " > " + (tmp / "out") + " 2> " + (tmp / "err");
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  return r;
}

/// The JSON objects of a JSONL file, one per non-empty line.
// Largest |a - b| / max(1, |b|) over the tensors of two safetensors files with the same names.
inline double max_relative_difference(const std::string& a, const std::string& b) {
  auto x = io::SafetensorsReader::open(a).load_all();
  auto y = io::SafetensorsReader::open(b).load_all();
  EXPECT_EQ(x.size(), y.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    EXPECT_EQ(x[i].first, y[i].first);
    auto d = (x[i].second - y[i].second).abs() / y[i].second.abs().clamp_min(1.0);
    worst = std::max(worst, d.max().item<double>());
  }
  return worst;
}

inline std::vector<nlohmann::json> events_of(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(slurp(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

/// Starts `bipeft <args>` with extra environment `env` ("NAME=value ..." or empty) and its stdout/stderr
/// in `log_dir`/stdout and `log_dir`/stderr; returns its pid.
inline pid_t spawn(const std::string& args, const std::string& log_dir, const std::string& env = "") {
  const std::string cmd = env + (env.empty() ? "" : " ") + "exec " + BIPEFT_BINARY + " " + args + " > " + log_dir +
                          "/stdout 2> " + log_dir + "/stderr";
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

/// True once `log` holds an event for which `pred` holds.
inline bool log_has(const std::string& log, const std::function<bool(const nlohmann::json&)>& pred) {
  std::istringstream in(slurp(log));
  for (std::string line; std::getline(in, line);) {
    auto e = nlohmann::json::parse(line, nullptr, false);
    if (!e.is_discarded() && pred(e)) return true;
  }
  return false;
}

/// A suite that shares one tiny T5 folder (d_model 32, one block, real vocabulary) made by `bipeft init`.
class TinyModelCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto r = run_cli("init --out " + (*dir_ / "model") + " --spiece " + source_path("examples/spiece.model") +
                     " --d-model 32 --d-kv 8 --d-ff 64 --layers 1 --heads 4 --dropout 0");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string model() { return *dir_ / "model"; }
  static std::string sst2() { return source_path("examples/data/sst2"); }

 private:
  static inline TempDir* dir_ = nullptr;
};

}  // namespace bipeft::test
