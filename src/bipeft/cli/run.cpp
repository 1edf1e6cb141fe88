#include "bipeft/cli/run.h"

#include "bipeft/build_info.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <new>
#include <vector>

#include <c10/util/Exception.h>

#include "bipeft/cli/command.h"
#include "bipeft/cli/option_flags.h"
#include "bipeft/cli/resume.h"
#include "bipeft/cli/signals.h"
#include "bipeft/core/error.h"
#include "bipeft/core/system_info.h"
#include "bipeft/dist/communicator.h"
#include "bipeft/train/run_state.h"

namespace bipeft::cli {

namespace {

const char* kFooter =
    "Exit codes: 0 success; 1 runtime failure (I/O, NaN, out of memory); 2 usage or config error;\n"
    "3 input-format error (checkpoint, tokenizer, dataset); 130 interrupted (state saved).";

std::string version_text() {
  return std::string("bipeft ") + BIPEFT_VERSION + " (git " + BIPEFT_GIT_HASH + ")\n" + torch_summary() +
         "\nBLAS: " + blas_summary() +
         "\nMulti-process runs: " + (dist::has_gloo() ? "c10d Gloo (--nproc N, or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT)"
                                                   : "unavailable (built without the Gloo headers: apt-get install libgloo-dev, rebuild)");
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Prints the one-line reason of the exception in flight ("bipeft <command>: error: ...") and returns
// its exit code. Call only inside a catch block.
int fail_with_current_exception(const std::string& command, const CLI::App* app = nullptr) {
  // The options fields a library message names ("lower TrainOptions.lr"), as the flags of this command.
  auto print = [&](int code, const std::string& msg) {
    std::cerr << "bipeft " << command << ": error: " << msg << "\n";
    return code;
  };
  auto fail = [&](int code, const std::string& msg) {
    return print(code, app != nullptr ? with_flags(*app, command, msg) : msg);
  };
  try {
    throw;
  } catch (const Interrupted& e) {
    return fail(kInterrupted, e.what());
  } catch (const OptionError& e) {
    // "--ema: must be in [0, 1) (SearchOptions.ema)": the flag typed, and the field it set.
    // (The parenthesis keeps the field's name: with_flags would turn it into the flag a second time.)
    const auto flag = app != nullptr ? option_flag(*app, command, e) : std::string();
    if (flag.empty()) return fail(kUsage, e.what());
    return print(kUsage, flag + ": " + with_flags(*app, command, e.rule()) + " (" + e.owner() + "." + e.field() + ")");
  } catch (const ConfigError& e) {
    return fail(kUsage, e.what());
  } catch (const FormatError& e) {
    return fail(kBadInput, e.what());
  } catch (const Error& e) {
    return fail(kFailure, e.what());
  } catch (const std::bad_alloc&) {
    return fail(kFailure, "out of memory; use a smaller --batch or a smaller model");
  } catch (const c10::Error& e) {
    return fail(kFailure, "LibTorch: " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return fail(kFailure, e.what());
  }
}

// The interruption tests' fault injection: BIPEFT_FAULT_KILL_IN_SAVE=N kills the process with SIGKILL
// half-way through writing the N-th run-state save (train::set_save_fault_hook).
void install_fault_injection() {
  const char* fault = std::getenv("BIPEFT_FAULT_KILL_IN_SAVE");
  if (fault == nullptr || *fault == '\0') return;
  const int n = std::atoi(fault);
  train::set_save_fault_hook([n](int save) {
    if (save == n) std::raise(SIGKILL);
  });
}

}  // namespace

int run(int argc, char** argv) {
  install_fault_injection();
  CLI::App app{"bipeft: budget-guided search, training and export of PEFT structures for T5 models"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text);
  std::vector<Command> commands = {add_info_command(app), add_tokenize_command(app), add_logits_command(app),
                                   add_data_command(app), add_score_command(app),
                                   add_train_command(app), add_eval_command(app), add_init_command(app), add_search_command(app),
                                   add_export_command(app), add_bench_command(app), add_pretrain_command(app),
                                   add_compare_command(app)};

  std::string name = "";
  set_command_line(argc, argv);
  try {
    // `bipeft <cmd> --resume DIR` alone: parse the command line saved in DIR/config.json instead.
    std::optional<std::vector<std::string>> expanded;
    try {
      expanded = expand_resume(argc, argv);
    } catch (...) {
      return fail_with_current_exception(argv[1]);
    }
    if (expanded) {
      std::vector<std::string> args = *expanded;
      std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order
      app.parse(args);
    } else {
      app.parse(argc, argv);
    }
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // The innermost command given ("bipeft bench planted"), for the message and the --help hint.
    const CLI::App* at = &app;
    std::string path = "bipeft";
    for (auto subs = at->get_subcommands(); !subs.empty(); subs = at->get_subcommands()) {
      at = subs.back();
      path += " " + at->get_name();
    }
    std::string msg = e.what();
    // "bipeft frobnicate" / "bipeft bench nosuch": CLI11 says only "A subcommand is required"; name the word.
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && at->get_require_subcommand_min() > 0 &&
        at->get_subcommands().empty()) {
      std::string known;
      for (const auto* s : at->get_subcommands(std::function<bool(const CLI::App*)>()))
        known += (known.empty() ? "" : ", ") + s->get_name();
      const auto extra = at->remaining();
      if (extra.empty())
        msg = "a command is required: " + known;
      else
        msg = (extra.front().rfind('-', 0) == 0 ? "unknown option '" : "unknown command '") + extra.front() +
              "'; commands: " + known;
    }
    std::cerr << path << ": error: " << msg << "\n"
              << "Run '" << path << " --help' for usage.\n";
    return kUsage;
  }
  install_signal_handlers();
  for (auto& c : commands) {
    if (!c.app->parsed()) continue;
    name = c.app->get_name();
    // Nested commands ("bench planted") are named in full.
    const CLI::App* innermost = c.app;
    for (auto subs = c.app->get_subcommands(); !subs.empty(); subs = subs.back()->get_subcommands()) {
      name += " " + subs.back()->get_name();
      innermost = subs.back();
    }
    set_current_command(innermost, name);
    try {
      return c.run();
    } catch (...) {
      return fail_with_current_exception(name, innermost);
    }
  }
  return kUsage;
}

}  // namespace bipeft::cli
