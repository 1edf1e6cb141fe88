#pragma once
// Supervised examples to mix into pretraining (T5 v1.0's multi-task pretraining): the training splits
// of known tasks, in their text-to-text format and tokenized, for PretrainOptions::task_rows. Only tasks
// whose dev and test come from the official validation file qualify; a task whose dev rows are drawn
// from its training file (SST-2, IMDB, ...) would put some seed's dev rows into the backbone.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bipeft/data/collate.h"
#include "bipeft/text/tokenizer.h"

namespace bipeft::data {

struct MixtureTask {
  std::string task;  // a known task name (cola, mrpc, stsb, rte, ...)
  std::string dir;   // its folder as officially distributed
};

struct TaskMixture {
  std::vector<TokenizedExample> examples;               // every task's training rows, task after task
  std::vector<std::pair<std::string, int64_t>> counts;  // (canonical task, rows taken), in order
};

/// "task=dir" (the CLI's form) as a MixtureTask; ConfigError saying the expected form otherwise.
MixtureTask parse_mixture_task(const std::string& spec);

/// The training rows of each task (the first `max_per_task` when > 0), in the paper's text-to-text
/// format, truncated to the task's lengths. ConfigError for an unknown task, a custom task, a task
/// named twice, or a task whose dev split is drawn from its training file; the readers' IoError /
/// FormatError for missing or malformed files.
TaskMixture read_task_mixture(const std::vector<MixtureTask>& tasks, const text::Tokenizer& tokenizer,
                              int64_t max_per_task = 0);

}  // namespace bipeft::data
