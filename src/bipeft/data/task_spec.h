#pragma once
// The static description of every known task: prefixes, label words, metrics, lengths and which split
// protocol applies (ALGORITHM.md §11, FORMATS.md §C). Readers and load_task look tasks up here.
#include <cstdint>
#include <string>
#include <vector>

#include "bipeft/data/example.h"
#include "bipeft/data/task.h"

namespace bipeft::data {

enum class TaskFamily { Glue, SuperGlue, Standalone, Custom };  // Standalone: own download (IMDB)

struct TaskSpec {
  std::string name;                    // canonical name
  TaskFamily family = TaskFamily::Glue;
  std::string paper_prefix;            // first word of a paper-format source ("superglue-boolq")
  std::string t5_prefix;               // first word of a T5-format source ("boolq")
  bool large = false;                  // §11.1: 2,000 train rows become dev, validation becomes test
  int64_t max_source_length = 128;     // §11.2
  std::vector<std::string> metrics;    // paper order; first = model-selection key (§0 Q16)
  std::vector<std::string> t5_labels;  // T5 label words by class id; empty for regression/free text
  bool regression = false;
  bool free_text = false;              // ReCoRD: the target is an answer string

  /// Target strings by class id: "0", "1", ... (paper) or the T5 label words.
  std::vector<std::string> labels(PromptFormat format) const;
  const std::string& prefix(PromptFormat format) const {
    return format == PromptFormat::Paper ? paper_prefix : t5_prefix;
  }
  /// Target of class `id` in `format`.
  std::string target(PromptFormat format, int64_t id) const;
};

/// The spec of canonical task `name`; throws ConfigError listing the known tasks.
const TaskSpec& task_spec(const std::string& name);

/// Rows of the original files, each already formatted (one RowExamples per original row).
struct RawTask {
  std::vector<RowExamples> train, validation;
  std::vector<RowExamples> validation_mismatched;  // MNLI only
  std::vector<RowExamples> test;                   // custom tasks with a labelled test file: used as is
  bool has_test = false;                           // true: train/dev/test are final, no split protocol
  std::vector<std::string> labels;                 // custom tasks: classes found in the data
};

/// GLUE readers (glue_reader.cpp): `dir` is the task folder of the GLUE download.
RawTask read_glue_task(const TaskSpec& spec, const std::string& dir, PromptFormat format);
/// SuperGLUE readers (superglue_reader.cpp): `dir` holds train.jsonl and val.jsonl.
RawTask read_superglue_task(const TaskSpec& spec, const std::string& dir, PromptFormat format);
/// Tasks with their own download (standalone_reader.cpp): IMDB, `dir` holding train.tsv and test.tsv
/// (or .tsv.xz) with the header label, rating, text.
RawTask read_standalone_task(const TaskSpec& spec, const std::string& dir, PromptFormat format);
/// Custom tasks (custom_task.cpp): train/dev[/test] .jsonl, .csv or .tsv with the fields in `options`.
RawTask read_custom_task(const std::string& dir, const TaskOptions& options);

/// `dir`/`name`, or IoError saying the file is missing and what `dir` should contain.
std::string require_file(const std::string& dir, const std::string& name, const std::string& expected);

/// Index of `value` in `names`; throws FormatError at `where` listing the accepted values.
int64_t class_index(const std::string& value, const std::vector<std::string>& names, const std::string& where);

}  // namespace bipeft::data
