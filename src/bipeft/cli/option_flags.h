#pragma once
// From the options fields the library names ("SearchOptions.ema must be in [0, 1)", "lower
// TrainOptions.lr") to the flags of the command that set them ("--trigger-gap", "--retrain-lr"), so that
// what the CLI prints names what the user typed.
#include <string>

#include <CLI/CLI.hpp>

#include "bipeft/core/error.h"

namespace bipeft::cli {

/// The flag of `app` (the innermost parsed command, named `command`) that sets `owner`.`field`, or ""
/// when it has none. Tries the field's own name with '-' for '_' (and the few renamed flags: batch_size
/// is --batch, gumbel is --no-gumbel, dist::connect's timeout is --dist-timeout, ...), first with the
/// prefix a command gives a second options struct (TrainOptions under `search` and `compare` are
/// --retrain-..., under `bench planted` --train-...).
std::string option_flag(const CLI::App& app, const std::string& command, const std::string& owner,
                        const std::string& field);
std::string option_flag(const CLI::App& app, const std::string& command, const OptionError& e);

/// `text` with every field reference of the library's messages ("SearchOptions.epochs",
/// "SearchRequest.budget", "dist::connect.timeout": an owner ending in Options or Request, or
/// dist::connect, a dot, a member name) replaced by the flag that sets it in this command; a reference
/// the command has no flag for is left as it is.
std::string with_flags(const CLI::App& app, const std::string& command, const std::string& text);

/// The parsed command whose flags log lines use (set by run() before the command runs; none before).
void set_current_command(const CLI::App* app, const std::string& command);
/// with_flags for the current command; `text` unchanged when none is set.
std::string with_current_flags(const std::string& text);

}  // namespace bipeft::cli
