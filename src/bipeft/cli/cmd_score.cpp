// bipeft score --task T --pred FILE --gold FILE: one prediction per line scored against the gold
// targets (plain lines, or the JSONL that `bipeft data` writes, which carries answers and groups);
// the task's metrics as JSON on stdout, first = model-selection key.
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/data/task.h"
#include "bipeft/eval/metrics.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"

namespace bipeft::cli {

namespace {

/// Lines of `path` without '\n'/'\r'; a final newline does not add an empty line.
std::vector<std::string> read_lines(const std::string& path) {
  const std::string text = io::read_file(path);
  std::vector<std::string> lines = split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (auto& l : lines)
    if (!l.empty() && l.back() == '\r') l.pop_back();
  return lines;
}

bool looks_like_jsonl(const std::vector<std::string>& lines) {
  for (const auto& l : lines) {
    const std::string t = trim(l);
    if (t.empty()) continue;
    if (t[0] != '{') return false;
    auto j = nlohmann::json::parse(t, nullptr, /*allow_exceptions=*/false);
    return j.is_object() && j.contains("target");
  }
  return false;
}

std::vector<data::Example> read_gold(const std::string& path) {
  const auto lines = read_lines(path);
  std::vector<data::Example> gold;
  if (!looks_like_jsonl(lines)) {
    for (const auto& l : lines) gold.push_back(data::make_example("", trim(l)));
    return gold;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = path + " line " + std::to_string(i + 1);
    if (trim(lines[i]).empty()) throw FormatError(where + ": empty line in a JSONL gold file");
    const auto j = io::parse_json(lines[i], where);
    data::Example e = data::make_example(io::json_optional<std::string>(j, "source", "", where),
                                         io::json_required<std::string>(j, "target", where));
    if (j.contains("answers")) {
      if (!j["answers"].is_array()) throw FormatError(where + ": 'answers' must be a list of strings");
      e.answers.clear();
      for (const auto& a : j["answers"]) {
        if (!a.is_string()) throw FormatError(where + ": 'answers' must be a list of strings");
        e.answers.push_back(a.get<std::string>());
      }
    }
    e.group = io::json_optional<int64_t>(j, "group", -1, where);
    gold.push_back(std::move(e));
  }
  return gold;
}

}  // namespace

Command add_score_command(CLI::App& root) {
  struct Opts {
    std::string task, pred, gold, format = "paper";
    bool regression = false;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("score", "Score predictions (one per line) against gold targets");
  app->add_option("--task", o->task, "Task: " + join(data::known_tasks(), ", "))->required();
  app->add_option("--pred", o->pred, "Predictions, one generated text per line")->required()->check(CLI::ExistingFile);
  app->add_option("--gold", o->gold, "Gold targets: plain lines, or the JSONL printed by 'bipeft data'")
      ->required()
      ->check(CLI::ExistingFile);
  app->add_option("--format", o->format, "Format of the targets: paper (numeric labels) or t5 (label words)")
      ->check(CLI::IsMember({"paper", "t5"}))
      ->capture_default_str();
  app->add_flag("--regression", o->regression, "Custom task: numeric targets scored by Pearson/Spearman");
  return {app, [o]() {
            data::TaskOptions options;
            options.format = data::parse_prompt_format(o->format);
            options.regression = o->regression;
            const auto task = data::task_info(o->task, options);
            auto predictions = read_lines(o->pred);
            for (auto& p : predictions) p = trim(p);
            const auto gold = read_gold(o->gold);
            if (predictions.size() != gold.size())
              throw FormatError(o->pred + " has " + std::to_string(predictions.size()) + " lines but " + o->gold +
                                " has " + std::to_string(gold.size()) +
                                "; give one prediction per gold example, in the same order");
            const auto scores = eval::score(task, predictions, gold);
            nlohmann::ordered_json j = nlohmann::ordered_json::object();
            for (const auto& [name, value] : scores) j[name] = value;
            std::cerr << "bipeft score: " << task.name << ": " << gold.size() << " examples\n";
            std::cout << j.dump(2) << std::endl;
            return 0;
          }};
}

}  // namespace bipeft::cli
