#pragma once

namespace bipeft::cli {

/// Parses the command line, runs the subcommand and returns the process exit code:
/// 0 success, 1 runtime failure, 2 usage/config error, 3 input-format error, 130 interrupted.
int run(int argc, char** argv);

}  // namespace bipeft::cli
