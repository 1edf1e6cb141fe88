#pragma once
// The one interface through which training, search and evaluation see a task: load_task reads the
// officially distributed files of a GLUE/SuperGLUE task (or a custom JSONL/CSV/TSV task), formats
// every row as text-to-text and applies the split protocol of ALGORITHM.md §11.1.
#include <cstdint>
#include <string>
#include <vector>

#include "bipeft/data/example.h"

namespace bipeft::data {

/// Text-to-text format: Paper = S3Delta/BIPEFT (ALGORITHM.md §11.2, numeric label targets);
/// T5 = the original T5 prompts and label words (FORMATS.md §C.1).
enum class PromptFormat { Paper, T5 };

/// "paper" or "t5" -> PromptFormat; throws ConfigError otherwise.
PromptFormat parse_prompt_format(const std::string& name);
/// PromptFormat -> "paper" / "t5".
std::string prompt_format_name(PromptFormat format);

struct TaskOptions {
  PromptFormat format = PromptFormat::Paper;  // text-to-text format of sources and targets
  uint64_t seed = 42;                         // seeds the dev/test permutation and the search halves (§11.1)
  std::vector<std::string> text_fields;       // custom tasks: input columns/keys, in prompt order (required)
  std::string label_field;                    // custom tasks: label column/key (required)
  bool regression = false;                    // custom tasks: labels are numbers scored by Pearson/Spearman
  std::string custom_prefix = "custom";       // custom tasks: first word of every source
  int64_t max_test = 0;                       // > 0: score a fixed subset of this many test rows (fixed_subset)

  /// Throws ConfigError naming the broken constraint (custom tasks need fields and a label field).
  void validate(const std::string& task) const;
};

/// `n` rows of `rows` drawn by a fixed seed (the same rows for every --seed, so every seed and method
/// is scored on the same subset), in their original order; all of them when n >= rows.size().
std::vector<Example> fixed_subset(const std::vector<Example>& rows, int64_t n);

struct TaskData {
  std::string name;  // canonical: see known_tasks()
  PromptFormat format = PromptFormat::Paper;
  std::vector<Example> train, dev, test;           // after the split protocol (§11.1)
  std::vector<Example> test_mismatched;            // MNLI only: dev_mismatched.tsv, in file order
  std::vector<Example> search_train, search_val;   // seeded 50/50 halves of train (§5.1)
  int64_t max_source_length = 128;                 // tokens, truncation at tokenization (§11.2)
  int64_t max_target_length = 128;                 // an upper bound; data::max_target_length() is exact
  std::vector<std::string> metrics;                // metric names in order; first = model-selection key
  std::vector<std::string> labels;                 // target strings by class id (empty: regression/free text)
  std::vector<std::string> class_names;            // what each class id means ("not_entailment", custom labels)
  bool is_regression = false;                      // STS-B and custom --regression
};

/// Reads the official files in `dir`, formats and splits them. Throws ConfigError for an unknown task
/// (listing the known ones) or bad options, IoError/FormatError for missing/malformed files (naming
/// the file, the 1-based line and what was expected).
TaskData load_task(const std::string& task, const std::string& dir, const TaskOptions& options);

/// Name, metrics, labels and lengths of `task` without reading any file (examples left empty).
/// Throws ConfigError for an unknown task.
TaskData task_info(const std::string& task, const TaskOptions& options);

/// Canonical task names, in the order GLUE, SuperGLUE, custom.
std::vector<std::string> known_tasks();

/// Canonical name of `task` (accepts e.g. "SST-2", "sts-b", "superglue-boolq", "wsc.fixed");
/// throws ConfigError listing the known tasks when it is none of them.
std::string canonical_task_name(const std::string& task);

/// One of "train", "dev", "test", "test-mismatched", "search-train", "search-val"; throws ConfigError.
const std::vector<Example>& split_by_name(const TaskData& data, const std::string& split);

}  // namespace bipeft::data
