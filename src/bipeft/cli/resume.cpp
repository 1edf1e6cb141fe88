#include "bipeft/cli/resume.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bipeft/cli/common_args.h"
#include "bipeft/core/error.h"
#include "bipeft/io/file_util.h"

namespace bipeft::cli {

namespace {

std::vector<std::string>& argv_store() {
  static std::vector<std::string> v;
  return v;
}

nlohmann::json read_config(const std::string& dir) {
  const auto cfg = io::join_path(dir, "config.json");
  if (!io::is_file(cfg))
    throw ConfigError("--resume " + dir + ": no config.json there; give the --out folder of the run to continue");
  try {
    return nlohmann::json::parse(io::read_file(cfg));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cfg + ": not valid JSON (" + e.what() + ")");
  }
}

// Dotted paths of the fields where `a` and `b` differ.
void diff(const nlohmann::json& a, const nlohmann::json& b, const std::string& at, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it)
      diff(it.value(), b.contains(it.key()) ? b[it.key()] : nlohmann::json(), at.empty() ? it.key() : at + "." + it.key(), out);
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) out.push_back((at.empty() ? "" : at + ".") + it.key() + " (" + it.value().dump() + " now)");
    return;
  }
  if (a != b) out.push_back(at + " (" + a.dump() + " saved, " + b.dump() + " now)");
}

}  // namespace

void add_resume_options(CLI::App& app, ResumeArgs& a) {
  app.add_option("--resume", a.dir,
                 "Continue the interrupted run in this output folder (alone: the saved command line is reused)");
  app.add_option("--checkpoint-every", a.every,
                 "Save the run state every N optimizer steps (0 = only on SIGINT/SIGTERM)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

std::string prepare_run_dir(const std::string& out, bool overwrite, const ResumeArgs& r, const std::string& command,
                            const nlohmann::json& options, const std::string& finished) {
  if (!r.resuming()) {
    prepare_output_dir(out, overwrite);
    return out;
  }
  std::error_code ec;
  if (!out.empty() && !std::filesystem::equivalent(out, r.dir, ec))
    throw ConfigError("--out " + out + " and --resume " + r.dir + " name different folders; a resumed run writes into the folder it resumes");
  const auto cfg = read_config(r.dir);
  if (cfg.value("command", "") != command)
    throw ConfigError("--resume " + r.dir + ": holds a '" + cfg.value("command", "?") + "' run, not '" + command + "'");
  if (io::is_file(io::join_path(r.dir, finished)))
    throw ConfigError("--resume " + r.dir + ": the run finished (" + finished +
                      " exists); nothing to resume. Start a new run with another --out or --overwrite");
  std::vector<std::string> changed;
  diff(cfg.value("options", nlohmann::json::object()), options, "", changed);
  if (!changed.empty()) {
    std::string list;
    for (size_t i = 0; i < changed.size() && i < 6; ++i) list += (i ? "; " : "") + changed[i];
    throw ConfigError("--resume " + r.dir + ": the options differ from the saved run: " + list +
                      ". Resume with the original options (bipeft " + command + " --resume " + r.dir + " alone reuses them)");
  }
  // Temporary files of writes the kill interrupted (AtomicFile names them <target>.tmp.<pid>).
  for (const auto& f : std::filesystem::directory_iterator(r.dir, ec)) {
    const auto name = f.path().filename().string();
    const auto at = name.rfind(".tmp.");
    if (at != std::string::npos && at + 5 < name.size() &&
        name.find_first_not_of("0123456789", at + 5) == std::string::npos)
      std::filesystem::remove(f.path(), ec);
  }
  return r.dir;
}

train::Checkpointing checkpointing(const std::string& dir, const std::string& state_file, const ResumeArgs& r) {
  return train::Checkpointing::at(dir, state_file, r.every, r.resuming());
}


void set_command_line(int argc, char** argv) {
  auto& v = argv_store();
  v.assign(argv + 1, argv + argc);
}

const std::vector<std::string>& command_line() { return argv_store(); }

std::optional<std::vector<std::string>> expand_resume(int argc, char** argv) {
  if (argc < 4) return std::nullopt;
  const std::string cmd = argv[1];
  std::string dir;
  bool quiet = false;
  // Flags that change how, not what, the run computes may be given anew (--device must keep the
  // numbers the same to stay bit-identical, which only CPU-to-CPU guarantees).
  // --shard (compare) says which cells this process computes, --nproc/--dist-timeout how many
  // processes compute them; saved ones are never reused (a multi-process run resumes as one process,
  // except pretrain, which takes a new --nproc).
  const std::vector<std::string> never_reused = {"--shard", "--nproc", "--dist-timeout"};
  std::vector<std::string> runtime = {"--threads", "--device"};
  runtime.insert(runtime.end(), never_reused.begin(), never_reused.end());
  std::vector<std::string> overrides;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--resume" && i + 1 < argc) dir = argv[++i];
    else if (a.rfind("--resume=", 0) == 0) dir = a.substr(9);
    else if (a == "--quiet" || a == "-q") quiet = true;
    else if (std::find(runtime.begin(), runtime.end(), a) != runtime.end() && i + 1 < argc) {
      overrides.push_back(a);
      overrides.push_back(argv[++i]);
    } else {
      return std::nullopt;  // a full command line: used as given, then checked against the saved one
    }
  }
  if (dir.empty()) return std::nullopt;
  const auto cfg = read_config(dir);
  if (!cfg.contains("argv") || !cfg["argv"].is_array() || cfg["argv"].empty())
    throw ConfigError(io::join_path(dir, "config.json") + ": records no command line; resume with the full original command plus --resume " + dir);
  std::vector<std::string> out;
  for (const auto& a : cfg["argv"]) out.push_back(a.get<std::string>());
  if (out.front() != cmd)
    throw ConfigError("--resume " + dir + ": holds a '" + out.front() + "' run, not '" + cmd + "'");
  // Drop a saved --resume/--quiet, point --out at DIR (the folder may have moved).
  std::vector<std::string> not_carried = {"--resume", "--out"};
  not_carried.insert(not_carried.end(), never_reused.begin(), never_reused.end());
  std::vector<std::string> cleaned;
  for (size_t i = 0; i < out.size(); ++i) {
    bool dropped = std::find(not_carried.begin(), not_carried.end(), out[i]) != not_carried.end();
    // A flag given anew (never a value: a saved '2' is not '--nproc 2').
    for (size_t k = 0; k < overrides.size(); k += 2) dropped = dropped || overrides[k] == out[i];
    if (dropped) {
      ++i;
      continue;
    }
    bool saved_only = out[i] == "--quiet" || out[i] == "-q";  // or one of not_carried as --flag=value
    for (const auto& flag : not_carried) saved_only = saved_only || out[i].rfind(flag + "=", 0) == 0;
    if (saved_only) continue;
    cleaned.push_back(out[i]);
  }
  cleaned.insert(cleaned.end(), {"--out", dir, "--resume", dir});
  if (quiet) cleaned.push_back("--quiet");
  cleaned.insert(cleaned.end(), overrides.begin(), overrides.end());
  return cleaned;
}

}  // namespace bipeft::cli
