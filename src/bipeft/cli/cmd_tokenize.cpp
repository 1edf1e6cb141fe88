// bipeft tokenize --model DIR: UTF-8 lines on stdin -> {"ids": [...], "decoded": "..."} per line.
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/text/tokenizer.h"

namespace bipeft::cli {

Command add_tokenize_command(CLI::App& root) {
  struct Opts {
    std::string model;
    bool no_eos = false;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("tokenize", "Tokenize UTF-8 lines from stdin with the model's spiece.model");
  add_model_option(*app, o->model);
  app->add_flag("--no-eos", o->no_eos, "Do not append </s>");
  return {app, [o]() {
            auto tok = text::Tokenizer::from_model_dir(o->model);
            std::string line;
            while (std::getline(std::cin, line)) {
              auto ids = tok.encode(line, !o->no_eos);
              nlohmann::json j = {{"ids", ids}, {"decoded", tok.decode(ids)}};
              std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            }
            std::cout.flush();
            return 0;
          }};
}

}  // namespace bipeft::cli
