#pragma once
// The one error hierarchy of bipeft. Library code throws these; only cli/ catches them and maps each
// kind to an exit code (ConfigError 2, FormatError/ShapeError 3, the rest 1, Interrupted 130).
#include <stdexcept>
#include <string>
#include <utility>

namespace bipeft {

/// Base of every error bipeft throws on purpose. The message says what failed, where, and the fix.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A bad option, flag value or config field (exit code 2).
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A bad value of one options field (a ConfigError, exit code 2). The library names the field as
/// "<Struct>.<member> <rule>" ("SearchOptions.window must be >= 1"); the CLI names the flag that sets it
/// where the command has one ("--window: must be >= 1 (SearchOptions.window)").
class OptionError : public ConfigError {
 public:
  OptionError(std::string owner, std::string field, std::string rule)
      : ConfigError(owner + "." + field + " " + rule),
        owner_(std::move(owner)),
        field_(std::move(field)),
        rule_(std::move(rule)) {}
  const std::string& owner() const { return owner_; }  // the options struct ("SearchOptions")
  const std::string& field() const { return field_; }  // its member ("prune_begin_epoch")
  const std::string& rule() const { return rule_; }    // what the value must be ("must be >= 1")

 private:
  std::string owner_, field_, rule_;
};

/// A malformed input file: checkpoint, tokenizer, dataset, adapter (exit code 3).
class FormatError : public Error {
 public:
  using Error::Error;
};

/// A tensor whose shape does not fit what the model or config requires (exit code 3).
class ShapeError : public FormatError {
 public:
  using FormatError::FormatError;
};

/// A file that cannot be opened, read or written (exit code 1).
class IoError : public Error {
 public:
  using Error::Error;
};

/// NaN/inf in a loss or gradient, or another numeric failure during a run (exit code 1).
class NumericError : public Error {
 public:
  using Error::Error;
};

/// The run was asked to stop (SIGINT/SIGTERM) and stopped cleanly (exit code 130).
class Interrupted : public Error {
 public:
  using Error::Error;
};

}  // namespace bipeft
