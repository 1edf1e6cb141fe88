#pragma once
// Rank decoding: instead of generating, score every candidate target under the model and take the best
// one (classification: the most likely label word) or the probability-weighted mean of the candidate
// values (regression: the distinct targets of the train split, STS-B's 0.0 to 5.0). The scoring of T0
// and lm-eval-harness. It never gives an answer outside the label set, and a regression prediction
// moves with the model's belief even where the greedy string would not (a weak model that always
// writes "3.0" still ranks the candidates differently per example). Not the paper's protocol (greedy
// generation; the default).
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "bipeft/core/run_context.h"
#include "bipeft/data/collate.h"
#include "bipeft/data/task.h"
#include "bipeft/eval/decoding.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/text/tokenizer.h"

namespace bipeft::eval {

/// The targets rank decoding chooses among.
struct RankCandidates {
  std::vector<std::string> texts;  // target strings, as the model is trained to write them
  std::vector<double> values;      // regression: the number of each text; empty for classification
};

/// The task's label words (classification), or the distinct targets of its train split (regression; at
/// most 1,000, sorted by value). ConfigError for tasks whose answers are free text (ReCoRD, SQuAD) and
/// for regression tasks with more distinct targets than that.
RankCandidates rank_candidates(const data::TaskData& task);

/// log p(candidate | source) for every example and candidate: [N, C] float64, the sum over the
/// candidate's tokens and its EOS. Without gradients; `batch_size` examples at a time (fewer when the
/// candidates' logits would be large); data-parallel runs split the batches and share the table.
at::Tensor candidate_log_likelihoods(model::T5ModelImpl& model, const text::Tokenizer& tokenizer,
                                     const std::vector<data::TokenizedExample>& examples,
                                     const std::vector<std::string>& candidates, int64_t batch_size,
                                     const RunContext& ctx, const std::string& label);

/// One prediction string per row of `log_likelihoods` [N, C]: the most likely text (ties: the first),
/// or for regression the expected value under the softmax over candidates, written with 4 decimals.
std::vector<std::string> rank_predictions(const at::Tensor& log_likelihoods, const RankCandidates& candidates);

}  // namespace bipeft::eval
