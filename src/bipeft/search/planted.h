#pragma once
// The planted-structure benchmark: ground truth that the search finds what matters. A teacher is the
// frozen backbone plus a known sparse PEFT delta (chosen modules at chosen ranks with non-trivial
// weights); its output distributions (or greedy tokens) on real sentences become the training targets; the search runs on the
// bare backbone with the planted parameter count as budget. Reported: module recovery precision,
// recall and F1, rank accuracy, and the held-out loss of the found structure against the oracle (the
// planted structure trained from scratch) and a random structure of the same size.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/core/run_context.h"
#include <ATen/core/Generator.h>

#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_module.h"
#include "bipeft/peft/structure.h"
#include "bipeft/search/search_options.h"
#include "bipeft/search/space.h"
#include "bipeft/text/tokenizer.h"
#include "bipeft/train/objective.h"
#include "bipeft/train/train_options.h"

namespace bipeft::search {

struct PlantedOptions {
  std::vector<peft::ModuleSpec> planted;  // the teacher's delta (empty: default_planted())
  double delta_scale = 1.0;               // teacher weights ~ N(0, (scale / sqrt(fan_in))^2) per tensor; LoRA
                                          // deltas: r equal singular values of that expected norm
  int64_t target_tokens = 4;              // teacher greedy tokens per sentence (the targets)
  /// Rescale each planted delta (up to balance_rounds times, by at most 8x in all) until every planted
  /// module changes the teacher's outputs about equally (KL without it within 2x of the others'
  /// geometric mean). Random deltas at one scale differ ~40x in effect, and a plant that hardly shows
  /// cannot be recovered by any search, so without this the benchmark's ground truth is partly unknowable.
  bool balance_effects = true;
  int64_t balance_rounds = 4;
  /// "logits": every step minimises KL(teacher || student) over the vocabulary at each of those tokens
  /// (distillation: only the planted delta reaches zero); "greedy": cross-entropy on the greedy tokens.
  std::string target = "logits";
  int64_t max_sentences = 512;            // sentences used (train + held-out)
  double heldout_fraction = 0.2;          // share of the sentences kept out of training for the loss
  bool train_structures = true;           // false: search and recovery only (no found/oracle/random trainings)
  SpaceOptions space{"lora", {1, 4, 8}, false, {}};
  SearchOptions search;                   // the search (epochs, triggers, batch, lr, ...)
  train::TrainOptions train;              // training of the found, oracle and random structures
  void validate() const;
};

/// A few LoRA modules spread over encoder and decoder, at mixed ranks, on `sites`.
std::vector<peft::ModuleSpec> default_planted(const std::vector<model::SiteInfo>& sites);

struct PlantedReport {
  peft::Structure planted, found, random;
  std::string target;               // PlantedOptions::target the losses below were measured with
  double planted_params = 0, found_params = 0, random_params = 0;
  double precision = 0, recall = 0, f1 = 0;
  double rank_accuracy = 0;         // of the recovered modules, the share found at the planted rank
  double beta_rank_accuracy = 0;    // the same for beta's own rank choice (before the budget fill)
  // The same at sublayer granularity (encoder.block.0.layer.0 = one attention, ...): LoRA on v and on o
  // of one attention (or q and k) can express the same change, so a search may find the right
  // place under another module name. Reported beside the module-level figures, never instead.
  double sublayer_precision = 0, sublayer_recall = 0, sublayer_f1 = 0;
  double targets_changed = 0;       // share of target tokens where the teacher differs from the backbone
  // How much each planted module matters: held-out KL(teacher || teacher without that module), in
  // planted order. A module whose removal hardly changes the teacher cannot be told apart by any search.
  std::vector<std::pair<std::string, double>> planted_effects;
  // The factor each planted delta was scaled by to balance the effects (1 = unchanged), in planted order.
  std::vector<double> planted_scales;
  std::vector<std::string> warnings;  // e.g. a planted module that hardly changes the teacher
  // Held-out loss per target token after training (teacher-forced on the teacher's greedy tokens):
  // KL(teacher || student) with target "logits", cross-entropy on the tokens with "greedy".
  double loss_found = 0, loss_oracle = 0, loss_random = 0;
  double loss_backbone = 0;         // the same loss of the bare backbone
  int64_t train_sentences = 0, heldout_sentences = 0;
  double search_seconds = 0, train_seconds = 0;
  nlohmann::json search;            // SearchResult::to_json()
  nlohmann::json to_json() const;
};

/// KL(teacher || student) per target token, both teacher-forced on the batch labels; the teacher
/// (with its delta attached) is run without gradients. Used with PlantedOptions::target "logits".
train::BatchObjective distillation_objective(model::T5Model teacher);

/// Throws ConfigError when a planted module (of a structure already checked with validate()) is not
/// in the search space or is at a rank that is not a candidate (the benchmark could not score it fairly).
void check_planted_in_space(const peft::Structure& planted, const SpaceOptions& space, const std::vector<int64_t>& ranks,
                            const std::vector<model::SiteInfo>& sites);

/// Module-level recovery of `found` against `truth` (site + method), and the share of matches at the same rank.
void score_recovery(const peft::Structure& truth, const peft::Structure& found, PlantedReport& report);

/// Gives a module whose delta is a product B [out, r] . A [r, in] (parameters named A and B: LoRA)
/// r equal singular values, scale^2 sqrt(out / r) each (the expected Frobenius norm of the random
/// teacher factors), with random orthonormal singular vectors; other modules are left unchanged.
void plant_equal_singular_values_(peft::PeftModule& module, double scale, at::Generator& gen);

/// Multiplies the delta of `module` by `factor`: the B factor of a low-rank product B.A, every parameter
/// of other modules (biases, norm deltas: linear in them).
void scale_delta_(peft::PeftModule& module, double factor);

/// Runs the benchmark on `backbone` (left without modules afterwards) with `sentences` as inputs.
/// Throws ConfigError for bad options or an empty sentence list.
PlantedReport run_planted_benchmark(model::T5Model backbone, const text::Tokenizer& tokenizer,
                                    const std::vector<std::string>& sentences, const PlantedOptions& options,
                                    const RunContext& ctx);

}  // namespace bipeft::search
