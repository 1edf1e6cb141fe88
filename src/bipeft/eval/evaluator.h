#pragma once
// Scores a model on a split the way the paper does (ALGORITHM.md §10.5): greedy generation, decode
// with special tokens skipped, strip, then the task metric; or by rank decoding (eval/rank_decoding.h).
#include <string>
#include <utility>
#include <vector>

#include "bipeft/core/run_context.h"
#include "bipeft/data/collate.h"
#include "bipeft/data/task.h"
#include "bipeft/eval/decoding.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/text/tokenizer.h"

namespace bipeft::eval {

struct EvalOptions {
  int64_t batch_size = 64;      // examples per generation batch
  int64_t max_new_tokens = 0;   // generation length; 0 = the task's exact target length
  std::string label = "eval";   // progress label
  Decoding decoding = Decoding::Generate;  // greedy generation, or rank the task's candidate targets
};

struct EvalResult {
  std::vector<std::pair<std::string, double>> metrics;  // task metric order; first = selection key
  std::vector<std::string> predictions;                 // decoded, in example order
  double seconds = 0;

  /// The model-selection value (first metric), 0 when there are no metrics.
  double primary() const { return metrics.empty() ? 0.0 : metrics.front().second; }
  nlohmann::json to_json() const;
};

/// Predicts for `examples` (tokenized as `tokenized`; generated, or ranked: options.decoding) and scores
/// them against the task. The model runs in eval mode without gradients and is returned to its
/// previous mode. Throws FormatError for an empty split, ConfigError for rank decoding of a task whose
/// answers are free text.
EvalResult evaluate(model::T5ModelImpl& model, const text::Tokenizer& tokenizer, const data::TaskData& task,
                    const std::vector<data::Example>& examples, const std::vector<data::TokenizedExample>& tokenized,
                    const EvalOptions& options, const RunContext& ctx);

}  // namespace bipeft::eval
