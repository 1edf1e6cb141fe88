#pragma once
// The provenance block every output folder records in config.json: version, git hash, command line.
#include <string>

#include <nlohmann/json.hpp>

namespace bipeft::cli {

/// {"producer": "bipeft", "version", "git", "command", "created_utc"} plus `options`.
nlohmann::json run_header(const std::string& command, const nlohmann::json& options);

}  // namespace bipeft::cli
