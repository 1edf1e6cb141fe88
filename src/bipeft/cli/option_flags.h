#pragma once
// From a library OptionError ("SearchOptions.trigger_gap must be >= 0") to the flag of the command that
// sets that field ("--trigger-gap"), so an error names what the user typed.
#include <string>

#include <CLI/CLI.hpp>

#include "bipeft/core/error.h"

namespace bipeft::cli {

/// The flag of `app` (the innermost parsed command, named `command`) that sets the field of `e`, or ""
/// when it has none. Tries the field's own name with '-' for '_' (and the few renamed flags: batch_size
/// is --batch, gumbel is --no-gumbel, ...), first with the prefix a command gives a second options
/// struct (TrainOptions under `search` and `compare` are --retrain-..., under `bench planted` --train-...).
std::string option_flag(const CLI::App& app, const std::string& command, const OptionError& e);

}  // namespace bipeft::cli
