#include "bipeft/data/task.h"

#include <algorithm>

#include "bipeft/core/error.h"
#include "bipeft/core/random.h"
#include "bipeft/core/strings.h"
#include "bipeft/data/splits.h"
#include "bipeft/data/task_spec.h"
#include "bipeft/io/file_util.h"

namespace bipeft::data {

namespace {

const std::vector<TaskSpec>& specs() {
  using F = TaskFamily;
  static const std::vector<TaskSpec> table = [] {
    auto spec = [](std::string name, F family, std::string paper, std::string t5, bool large, int64_t len,
                   std::vector<std::string> metrics, std::vector<std::string> words) {
      TaskSpec s;
      s.name = std::move(name);
      s.family = family;
      s.paper_prefix = std::move(paper);
      s.t5_prefix = std::move(t5);
      s.large = large;
      s.max_source_length = len;
      s.metrics = std::move(metrics);
      s.t5_labels = std::move(words);
      return s;
    };
    const std::vector<std::string> acc = {"accuracy"};
    const std::vector<std::string> nli2 = {"entailment", "not_entailment"};
    const std::vector<std::string> boolean = {"False", "True"};
    std::vector<TaskSpec> t = {
        spec("cola", F::Glue, "cola", "cola", false, 128, {"mcc"}, {"unacceptable", "acceptable"}),
        spec("sst2", F::Glue, "sst2", "sst2", true, 128, acc, {"negative", "positive"}),
        spec("mrpc", F::Glue, "mrpc", "mrpc", false, 128, {"f1", "accuracy"}, {"not_equivalent", "equivalent"}),
        spec("qqp", F::Glue, "qqp", "qqp", true, 128, {"f1", "accuracy"}, {"not_duplicate", "duplicate"}),
        spec("stsb", F::Glue, "stsb", "stsb", false, 128, {"pearson", "spearman"}, {}),
        spec("mnli", F::Glue, "mnli", "mnli", true, 128, acc, {"entailment", "neutral", "contradiction"}),
        spec("qnli", F::Glue, "qnli", "qnli", true, 128, acc, nli2),
        spec("rte", F::Glue, "rte", "rte", false, 256, acc, nli2),
        spec("wnli", F::Glue, "wnli", "wnli", false, 128, acc, {"not_entailment", "entailment"}),
        spec("boolq", F::SuperGlue, "superglue-boolq", "boolq", false, 256, acc, boolean),
        spec("cb", F::SuperGlue, "superglue-cb", "cb", false, 256, {"accuracy", "macro_f1"},
             {"entailment", "contradiction", "neutral"}),
        spec("copa", F::SuperGlue, "superglue-copa", "copa", false, 256, acc, {"choice1", "choice2"}),
        spec("multirc", F::SuperGlue, "superglue-multirc", "multirc", false, 256, {"f1", "em"}, boolean),
        spec("record", F::SuperGlue, "superglue-record", "record", true, 512, {"f1", "em"}, {}),
        spec("superglue-rte", F::SuperGlue, "superglue-rte", "rte", false, 256, acc, nli2),
        spec("wic", F::SuperGlue, "superglue-wic", "wic", false, 256, acc, boolean),
        spec("wsc", F::SuperGlue, "superglue-wsc.fixed", "wsc", false, 256, acc, boolean),
        spec("imdb", F::Standalone, "imdb", "imdb", true, 256, acc, {"negative", "positive"}),
        spec("custom", F::Custom, "custom", "custom", false, 256, {}, {}),
    };
    for (auto& s : t) {
      s.regression = s.name == "stsb";
      s.free_text = s.name == "record";
    }
    return t;
  }();
  return table;
}

/// Upper bound of the tokenized length of any label (+EOS): a piece covers at least one byte, plus a
/// possible lone "▁" piece and EOS. data::max_target_length gives the exact value with a tokenizer.
int64_t label_length_bound(const std::vector<std::string>& labels) {
  size_t longest = 0;
  for (const auto& l : labels) longest = std::max(longest, l.size());
  return static_cast<int64_t>(longest) + 2;
}

void fill_info(TaskData& d, const TaskSpec& spec, const TaskOptions& options) {
  d.name = spec.name;
  d.format = options.format;
  d.max_source_length = spec.max_source_length;
  d.metrics = spec.metrics;
  d.labels = spec.labels(options.format);
  d.class_names = spec.t5_labels;
  d.is_regression = spec.regression;
  if (spec.family == TaskFamily::Custom) {
    d.is_regression = options.regression;
    d.metrics = options.regression ? std::vector<std::string>{"pearson", "spearman"}
                                   : std::vector<std::string>{"accuracy", "macro_f1"};
  }
  // Regression targets are short numbers ("3.8"); free text (ReCoRD) uses the §11.2 default of 128.
  d.max_target_length = spec.free_text ? 128 : d.is_regression ? 8 : label_length_bound(d.labels);
}

}  // namespace

std::vector<std::string> TaskSpec::labels(PromptFormat format) const {
  if (format == PromptFormat::T5) return t5_labels;
  std::vector<std::string> out;
  for (size_t i = 0; i < t5_labels.size(); ++i) out.push_back(std::to_string(i));
  return out;
}

std::string TaskSpec::target(PromptFormat format, int64_t id) const {
  return format == PromptFormat::Paper ? std::to_string(id) : t5_labels.at(static_cast<size_t>(id));
}

const TaskSpec& task_spec(const std::string& name) {
  for (const auto& s : specs())
    if (s.name == name) return s;
  throw ConfigError("unknown task '" + name + "'; known tasks: " + join(known_tasks(), ", "));
}

PromptFormat parse_prompt_format(const std::string& name) {
  if (name == "paper") return PromptFormat::Paper;
  if (name == "t5") return PromptFormat::T5;
  throw ConfigError("unknown format '" + name + "'; use 'paper' (S3Delta/BIPEFT numeric labels) or 't5'");
}

std::string prompt_format_name(PromptFormat format) { return format == PromptFormat::Paper ? "paper" : "t5"; }

void TaskOptions::validate(const std::string& task) const {
  if (max_test < 0)
    throw OptionError("TaskOptions", "max_test", "must be >= 0 (0 = every test row), got " + std::to_string(max_test));
  if (canonical_task_name(task) != "custom") return;
  if (text_fields.empty())
    throw OptionError("TaskOptions", "text_fields",
                      "is required for a custom task (comma-separated input columns, e.g. question,passage)");
  if (label_field.empty()) throw OptionError("TaskOptions", "label_field", "is required for a custom task (the label column)");
  for (const auto& f : text_fields) {
    if (trim(f).empty()) throw OptionError("TaskOptions", "text_fields", "has an empty field name");
    if (f == label_field) throw ConfigError("custom task: '" + f + "' is both a text field and the label field");
  }
  if (trim(custom_prefix).empty()) throw ConfigError("custom task: the source prefix must not be empty");
}

std::vector<Example> fixed_subset(const std::vector<Example>& rows, int64_t n) {
  if (n <= 0 || static_cast<size_t>(n) >= rows.size()) return rows;
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(derive_seed(0, 0x74657374737562));  // fixed: independent of --seed
  shuffle_in_place(order, rng);
  order.resize(static_cast<size_t>(n));
  std::sort(order.begin(), order.end());
  std::vector<Example> out;
  out.reserve(order.size());
  for (size_t i : order) out.push_back(rows[i]);
  return out;
}

std::vector<std::string> known_tasks() {
  std::vector<std::string> out;
  for (const auto& s : specs()) out.push_back(s.name);
  return out;
}

std::string canonical_task_name(const std::string& task) {
  std::string t = to_lower(trim(task));
  if (t == "sst-2") t = "sst2";
  if (t == "sts-b") t = "stsb";
  if (t == "superglue-wsc.fixed" || t == "wsc.fixed" || t == "superglue-wsc") t = "wsc";
  for (const char* sg : {"boolq", "cb", "copa", "multirc", "record", "wic"})
    if (t == std::string("superglue-") + sg) t = sg;
  for (const auto& s : specs())
    if (s.name == t) return t;
  throw ConfigError("unknown task '" + task + "'; known tasks: " + join(known_tasks(), ", "));
}

std::string require_file(const std::string& dir, const std::string& name, const std::string& expected) {
  const std::string path = dir + "/" + name;
  if (!io::is_file(path)) throw IoError(path + ": missing file; the task folder must be " + expected);
  return path;
}

int64_t class_index(const std::string& value, const std::vector<std::string>& names, const std::string& where) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == value) return static_cast<int64_t>(i);
  throw FormatError(where + ": label '" + value + "' is not one of " + join(names, ", "));
}

TaskData task_info(const std::string& task, const TaskOptions& options) {
  TaskData d;
  fill_info(d, task_spec(canonical_task_name(task)), options);
  return d;
}

TaskData load_task(const std::string& task, const std::string& dir, const TaskOptions& options) {
  const TaskSpec& spec = task_spec(canonical_task_name(task));
  options.validate(spec.name);
  if (!io::is_dir(dir)) throw IoError(dir + ": not a folder; give the folder of the " + spec.name + " files");
  RawTask raw = spec.family == TaskFamily::Glue         ? read_glue_task(spec, dir, options.format)
                : spec.family == TaskFamily::SuperGlue  ? read_superglue_task(spec, dir, options.format)
                : spec.family == TaskFamily::Standalone ? read_standalone_task(spec, dir, options.format)
                                                        : read_custom_task(dir, options);
  TaskData d;
  fill_info(d, spec, options);
  if (spec.family == TaskFamily::Custom && !options.regression) {
    d.class_names = raw.labels;
    d.labels = raw.labels;
    if (options.format == PromptFormat::Paper)
      for (size_t i = 0; i < d.labels.size(); ++i) d.labels[i] = std::to_string(i);
    d.max_target_length = label_length_bound(d.labels);
  }
  if (spec.family == TaskFamily::Custom && options.regression) {
    int64_t longest = 0;
    for (const auto* rows : {&raw.train, &raw.validation, &raw.test})
      for (const auto& row : *rows)
        for (const auto& e : row) longest = std::max<int64_t>(longest, static_cast<int64_t>(e.target.size()));
    d.max_target_length = longest + 2;
  }
  ProtocolSplits splits;
  if (raw.has_test) {
    for (const auto& [from, to] : {std::pair{&raw.train, &splits.train}, {&raw.validation, &splits.dev},
                                   {&raw.test, &splits.test}})
      for (const auto& row : *from) to->insert(to->end(), row.begin(), row.end());
  } else {
    splits = split_protocol(raw.train, raw.validation, spec.large, options.seed);
  }
  d.train = std::move(splits.train);
  d.dev = std::move(splits.dev);
  d.test = std::move(splits.test);
  if (options.max_test > 0 && static_cast<int64_t>(d.test.size()) > options.max_test)
    d.test = fixed_subset(d.test, options.max_test);
  for (const auto& row : raw.validation_mismatched)
    for (const auto& e : row) d.test_mismatched.push_back(e);
  for (const auto& [split, examples] : {std::pair<const char*, const std::vector<Example>*>{"train", &d.train},
                                        {"dev", &d.dev},
                                        {"test", &d.test}}) {
    if (examples->empty())
      throw FormatError(dir + ": the " + std::string(split) + " split of " + spec.name +
                        " is empty after the split protocol; the files need more rows (train " +
                        std::to_string(raw.train.size()) + ", validation " + std::to_string(raw.validation.size()) +
                        ")");
  }
  auto halves = search_halves(d.train, options.seed);
  d.search_train = std::move(halves.search_train);
  d.search_val = std::move(halves.search_val);
  return d;
}

const std::vector<Example>& split_by_name(const TaskData& data, const std::string& split) {
  if (split == "train") return data.train;
  if (split == "dev") return data.dev;
  if (split == "test") return data.test;
  if (split == "test-mismatched") {
    if (data.name != "mnli") throw ConfigError("split 'test-mismatched' exists only for mnli");
    return data.test_mismatched;
  }
  if (split == "search-train") return data.search_train;
  if (split == "search-val") return data.search_val;
  throw ConfigError("unknown split '" + split + "'; use train, dev, test, test-mismatched (mnli), search-train or search-val");
}

}  // namespace bipeft::data
