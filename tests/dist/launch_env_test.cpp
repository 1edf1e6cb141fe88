// The launcher environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_*): read, checked.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "bipeft/core/error.h"
#include "bipeft/dist/communicator.h"

namespace bipeft {
namespace {

dist::LaunchEnv read(const std::map<std::string, std::string>& vars) {
  return dist::launch_env([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string error_of(const std::map<std::string, std::string>& vars) {
  try {
    read(vars);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(LaunchEnv, NoVariablesOrWorldSizeOneIsASingleProcess) {
  EXPECT_FALSE(read({}).distributed());
  EXPECT_FALSE(read({{"WORLD_SIZE", "1"}, {"RANK", "0"}}).distributed());
}

TEST(LaunchEnv, ReadsTheTorchrunVariables) {
  auto env = read({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29511"},
                   {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}});
  EXPECT_TRUE(env.distributed());
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.master_addr, "node7");
  EXPECT_EQ(env.master_port, 29511);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
}

TEST(LaunchEnv, MissingOrMalformedVariablesAreNamed) {
  const std::map<std::string, std::string> ok = {{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"},
                                                 {"MASTER_PORT", "29500"}};
  EXPECT_EQ(error_of(ok), "");
  auto without = [&](const std::string& k) {
    auto v = ok;
    v.erase(k);
    return v;
  };
  auto with = [&](const std::string& k, const std::string& value) {
    auto v = ok;
    v[k] = value;
    return v;
  };
  EXPECT_NE(error_of(without("RANK")).find("RANK is not set"), std::string::npos);
  EXPECT_NE(error_of(without("MASTER_ADDR")).find("MASTER_ADDR is not set"), std::string::npos);
  EXPECT_NE(error_of(without("MASTER_PORT")).find("MASTER_PORT is not set"), std::string::npos);
  EXPECT_NE(error_of(with("RANK", "2")).find("RANK='2'"), std::string::npos);
  EXPECT_NE(error_of(with("RANK", "-1")).find("RANK"), std::string::npos);
  EXPECT_NE(error_of(with("WORLD_SIZE", "two")).find("WORLD_SIZE='two'"), std::string::npos);
  EXPECT_NE(error_of(with("MASTER_PORT", "70000")).find("MASTER_PORT"), std::string::npos);
  EXPECT_NE(error_of(with("MASTER_PORT", "29500x")).find("MASTER_PORT"), std::string::npos);
  EXPECT_NE(error_of(with("LOCAL_RANK", "5")).find("LOCAL_RANK"), std::string::npos);
}

TEST(LaunchEnv, FreeLocalPortIsAUsablePortNumber) {
  const int p = dist::free_local_port();
  EXPECT_GT(p, 0);
  EXPECT_LT(p, 65536);
}

}  // namespace
}  // namespace bipeft
