#pragma once
// Running the built `bipeft` binary from tests: exit code, stdout, stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

/// Runs `bipeft <args>` (a shell fragment) and captures its outputs.
inline CliResult run_cli(const std::string& args) {
  TempDir tmp;
  const std::string cmd = std::string(BIPEFT_BINARY) + " " + args + " > " + (tmp / "out") + " 2> " + (tmp / "err");
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  return r;
}

}  // namespace bipeft::test
