// bipeft data --task T --data DIR --split S: the formatted examples of one split as JSONL on stdout
// ({"source", "target"} plus "answers"/"group" when present); split sizes on stderr.
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/data/task.h"

namespace bipeft::cli {

namespace {

struct DataTaskFlags {
  std::string task;
  std::string format = "paper";
  std::string text_fields;
  std::string label_field;
  bool regression = false;
};

data::TaskOptions task_options(const DataTaskFlags& f, uint64_t seed) {
  data::TaskOptions o;
  o.format = data::parse_prompt_format(f.format);
  o.seed = seed;
  if (!f.text_fields.empty())
    for (const auto& field : split(f.text_fields, ',')) o.text_fields.push_back(trim(field));
  o.label_field = f.label_field;
  o.regression = f.regression;
  return o;
}

}  // namespace

Command add_data_command(CLI::App& root) {
  struct Opts {
    DataTaskFlags task;
    std::string data;
    std::string split;
    uint64_t seed = 42;
    int64_t head = -1;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("data", "Read a GLUE/SuperGLUE/custom task and print one split as JSONL");
  app->add_option("--task", o->task.task, "Task: " + join(data::known_tasks(), ", "))->required();
  app->add_option("--data", o->data, "Task folder as officially distributed (e.g. glue/RTE, superglue/BoolQ)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app->add_option("--format", o->task.format, "Text-to-text format: paper (S3Delta/BIPEFT, numeric labels) or t5")
      ->check(CLI::IsMember({"paper", "t5"}))
      ->capture_default_str();
  app->add_option("--seed", o->seed, "Seed of the dev/test permutation and the search halves")->capture_default_str();
  app->add_option("--split", o->split, "train, dev, test, test-mismatched (mnli), search-train or search-val")
      ->required()
      ->check(CLI::IsMember({"train", "dev", "test", "test-mismatched", "search-train", "search-val"}));
  app->add_option("--head", o->head, "Print only the first N examples (default: all)")->check(CLI::NonNegativeNumber);
  app->add_option("--text-fields", o->task.text_fields, "Custom task: comma-separated input fields, in prompt order");
  app->add_option("--label-field", o->task.label_field, "Custom task: the label field");
  app->add_flag("--regression", o->task.regression, "Custom task: numeric labels scored by Pearson/Spearman");
  return {app, [o]() {
            const auto options = task_options(o->task, o->seed);
            const auto task = data::load_task(o->task.task, o->data, options);
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
