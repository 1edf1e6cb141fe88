#pragma once
// Checkpoint and resume for long subcommands (train, search): the --checkpoint-every and --resume
// flags, the checks that a folder holds an unfinished run with the same options, rewinding its
// JSONL log to the saved step, and `bipeft <cmd> --resume DIR` with no other flags (the command line
// is taken from DIR/config.json).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bipeft/train/run_state.h"

namespace bipeft::cli {

struct ResumeArgs {
  std::string dir;          // --resume DIR (empty = a new run)
  int64_t every = 50;       // --checkpoint-every N optimizer steps (0 = only on SIGINT/SIGTERM)
  bool resuming() const { return !dir.empty(); }
};

/// Adds --resume DIR and --checkpoint-every N.
void add_resume_options(CLI::App& app, ResumeArgs& args);

/// The output folder of a run: with --resume, DIR must hold config.json of an unfinished `command`
/// run whose options equal `options` (ConfigError naming the differing fields) and no `finished`
/// file; --out, when also given, must name the same folder. Without --resume the folder is prepared
/// as a new output folder (refused when non-empty unless `overwrite`). Returns the folder.
std::string prepare_run_dir(const std::string& out, bool overwrite, const ResumeArgs& resume,
                            const std::string& command, const nlohmann::json& options, const std::string& finished);

/// Checkpointing of one phase whose state lives in `state_file` inside `dir`.
train::Checkpointing checkpointing(const std::string& dir, const std::string& state_file, const ResumeArgs& resume);

/// Records the command line (argv[1..]) of this process for config.json.
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

/// `bipeft <cmd> --resume DIR [--quiet] [--threads N] [--device D]` → the command line saved in
/// DIR/config.json with --out DIR, --resume DIR and the given flags; nullopt when argv is not of
/// that form (a full command line, checked against the saved options later).
std::optional<std::vector<std::string>> expand_resume(int argc, char** argv);

}  // namespace bipeft::cli
