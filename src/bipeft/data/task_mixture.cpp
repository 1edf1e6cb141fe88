#include "bipeft/data/task_mixture.h"

#include <algorithm>
#include <set>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "bipeft/data/task_spec.h"

namespace bipeft::data {

MixtureTask parse_mixture_task(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw ConfigError("task mixture entry '" + spec + "' must be TASK=DIR (e.g. stsb=glue/STS-B)");
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

TaskMixture read_task_mixture(const std::vector<MixtureTask>& tasks, const text::Tokenizer& tok, int64_t max_per_task) {
  TaskMixture mix;
  std::set<std::string> seen;
  for (const auto& t : tasks) {
    const std::string name = canonical_task_name(t.task);
    const TaskSpec& spec = task_spec(name);
    if (spec.family == TaskFamily::Custom)
      throw ConfigError("task mixture: custom tasks cannot be mixed into pretraining (their fields are not known "
                        "here); give known tasks");
    if (spec.large)
      throw ConfigError("task mixture: " + name + " draws its dev rows from its training file (a different 2,000 "
                        "per seed), so pretraining on its training split would put dev rows into the backbone; mix "
                        "tasks whose dev and test come from the validation file (cola, mrpc, stsb, rte, ...)");
    if (!seen.insert(name).second) throw ConfigError("task mixture: " + name + " is named twice");
    const TaskData data = load_task(name, t.dir, TaskOptions{});
    std::vector<Example> rows = data.train;
    if (max_per_task > 0 && static_cast<int64_t>(rows.size()) > max_per_task) rows.resize(static_cast<size_t>(max_per_task));
    auto tokd = tokenize_examples(tok, rows, data.max_source_length, data.max_target_length);
    mix.counts.emplace_back(name, static_cast<int64_t>(tokd.size()));
    for (auto& e : tokd) mix.examples.push_back(std::move(e));
  }
  return mix;
}

}  // namespace bipeft::data
