#pragma once
// Each subcommand lives in cmd_<name>.cpp and registers itself with the root app through one factory
// below. A factory adds the subcommand, its flags (bound to an options struct it owns) and returns
// the action to run after parsing. Only cli/ prints or decides exit codes.
#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

namespace bipeft::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // returns the exit code
};

Command add_info_command(CLI::App& root);
Command add_tokenize_command(CLI::App& root);
Command add_logits_command(CLI::App& root);
Command add_train_command(CLI::App& root);
Command add_eval_command(CLI::App& root);
Command add_init_command(CLI::App& root);
Command add_search_command(CLI::App& root);
Command add_data_command(CLI::App& root);
Command add_score_command(CLI::App& root);
Command add_export_command(CLI::App& root);
Command add_bench_command(CLI::App& root);
Command add_pretrain_command(CLI::App& root);
Command add_compare_command(CLI::App& root);

/// Exit codes (also listed in --help).
enum ExitCode : int { kOk = 0, kFailure = 1, kUsage = 2, kBadInput = 3, kInterrupted = 130 };

}  // namespace bipeft::cli
