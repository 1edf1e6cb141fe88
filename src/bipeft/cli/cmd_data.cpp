// bipeft data --task T --data DIR --split S: the formatted examples of one split as JSONL on stdout
// ({"source", "target"} plus "answers"/"group" when present); split sizes on stderr. With --text only
// the sources, one per line (unlabeled text, e.g. a corpus for bipeft pretrain).
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/cli/number_checks.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/data/task.h"

namespace bipeft::cli {


Command add_data_command(CLI::App& root) {
  struct Opts {
    TaskArgs task;
    std::string split;
    uint64_t seed = 42;
    int64_t head = -1;
    bool text = false;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("data", "Read a GLUE/SuperGLUE/custom task and print one split as JSONL");
  add_task_options(*app, o->task);
  app->add_option("--seed", o->seed, "Seed of the dev/test permutation and the search halves")
      ->check(seed_number())
      ->capture_default_str();
  app->add_option("--split", o->split, "train, dev, test, test-mismatched (mnli), search-train or search-val")
      ->required()
      ->check(CLI::IsMember({"train", "dev", "test", "test-mismatched", "search-train", "search-val"}));
  app->add_option("--head", o->head, "Print only the first N examples (default: all)")->check(whole_number(0));
  app->add_flag("--text", o->text, "Print only the sources, one per line (no labels): a pretraining corpus");
  return {app, [o]() {
            const auto options = task_options(o->task, o->seed);
            const auto task = data::load_task(o->task.task, o->task.data, options);
            const auto& examples = data::split_by_name(task, o->split);
            std::cerr << "bipeft data: " << task.name << " (" << data::prompt_format_name(task.format)
                      << ", seed " << o->seed << "): train " << task.train.size() << ", dev " << task.dev.size()
                      << ", test " << task.test.size();
            if (!task.test_mismatched.empty()) std::cerr << ", test-mismatched " << task.test_mismatched.size();
            std::cerr << ", search-train " << task.search_train.size() << ", search-val " << task.search_val.size()
                      << "; metrics " << join(task.metrics, ", ") << "\n";
            const size_t n = o->head >= 0 ? std::min(examples.size(), static_cast<size_t>(o->head)) : examples.size();
            for (size_t i = 0; i < n; ++i) {
              const auto& e = examples[i];
      if (o->text) {
        std::string line = e.source;
        for (char& c : line)
          if (c == '\n' || c == '\r') c = ' ';
        std::cout << line << "\n";
        continue;
      }
              nlohmann::ordered_json j = {{"source", e.source}, {"target", e.target}};
              if (e.answers != std::vector<std::string>{e.target}) j["answers"] = e.answers;
              if (e.group >= 0) j["group"] = e.group;
              std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            }
            std::cout.flush();
            return 0;
          }};
}

}  // namespace bipeft::cli
