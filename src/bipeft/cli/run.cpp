#include "bipeft/cli/run.h"

#include "bipeft/build_info.h"

#include <iostream>
#include <new>
#include <vector>

#include <c10/util/Exception.h>

#include "bipeft/cli/command.h"
#include "bipeft/cli/signals.h"
#include "bipeft/core/error.h"
#include "bipeft/core/system_info.h"

namespace bipeft::cli {

namespace {

const char* kFooter =
    "Exit codes: 0 success; 1 runtime failure (I/O, NaN, out of memory); 2 usage or config error;\n"
    "3 input-format error (checkpoint, tokenizer, dataset); 130 interrupted (state saved).";

std::string version_text() {
  return std::string("bipeft ") + BIPEFT_VERSION + " (git " + BIPEFT_GIT_HASH + ")\n" + torch_summary() +
         "\nBLAS: " + blas_summary();
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"bipeft: budget-guided search, training and export of PEFT structures for T5 models"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text);
  std::vector<Command> commands = {add_info_command(app), add_tokenize_command(app), add_logits_command(app),
                                   add_data_command(app), add_score_command(app),
                                   add_train_command(app), add_eval_command(app), add_init_command(app), add_search_command(app),
                                   add_export_command(app), add_bench_command(app)};

  std::string name = "";
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string sub;
    for (const auto* s : app.get_subcommands()) sub = s->get_name();
    std::cerr << "bipeft" << (sub.empty() ? "" : " " + sub) << ": error: " << e.what() << "\n"
              << "Run 'bipeft" << (sub.empty() ? "" : " " + sub) << " --help' for usage.\n";
    return kUsage;
  }
  install_signal_handlers();
  for (auto& c : commands) {
    if (!c.app->parsed()) continue;
    name = c.app->get_name();
    auto fail = [&](int code, const std::string& msg) {
      std::cerr << "bipeft " << name << ": error: " << msg << "\n";
      return code;
    };
    try {
      return c.run();
    } catch (const Interrupted& e) {
      return fail(kInterrupted, e.what());
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
  return kUsage;
}

}  // namespace bipeft::cli
