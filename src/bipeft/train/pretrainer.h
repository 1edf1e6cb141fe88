#pragma once
// Pretraining of a whole T5 with the span-corruption objective on a plain-text corpus: AdamW,
// linear warm-up and decay, gradient clipping, a held-out loss on fixed corruptions every N steps,
// and checkpoint/resume through RunState (bit-identical on CPU to an uninterrupted run).
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/core/run_context.h"
#include "bipeft/data/collate.h"
#include "bipeft/data/span_corruption.h"
#include "bipeft/data/text_corpus.h"
#include "bipeft/dist/data_parallel.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/text/tokenizer.h"
#include "bipeft/train/pretrain_state.h"
#include "bipeft/train/run_state.h"

namespace bipeft::train {

struct PretrainOptions {
  int64_t steps = 2000;             // optimizer steps (the corpus is repeated as needed)
  int64_t batch_size = 32;          // chunks per step
  data::SpanCorruptionOptions corruption;
  double lr = 1e-2;                 // AdamW peak learning rate (relative to each tensor's RMS by default)
  double weight_decay = 0.01;
  double warmup_ratio = 0.05;       // fraction of the steps with linear warm-up, in [0, 1)
  double clip_norm = 1.0;           // gradient-norm clip; 0 disables
  int64_t eval_every = 100;         // held-out loss every N steps (and at 0 and the end)
  int64_t eval_examples = 512;      // held-out chunks used (0 = all)
  int64_t eval_batch_size = 64;
  int64_t log_every = 10;           // a "step" event (mean loss of the window) every N steps
  bool autocast_bf16 = false;       // training forwards under bf16 autocast (core/autocast.h); held-out in fp32
  // Relative steps (the default): each weight tensor's learning rate is lr x max(RMS(tensor), 1e-3)
  // (Adafactor's parameter scaling, as T5 was trained; nanoT5's AdamWScale). T5's init spans 90x
  // (embeddings N(0, 1), q N(0, (d d_kv)^-0.5)) and its attention has no 1/sqrt(d_k): one absolute
  // AdamW step for all lets q grow ~11x in 10K steps (measured, examples/t5-pretrained, runs 1-2), the attention
  // logits saturate and learning stalls. false: one absolute lr (then use ~1e-3).
  bool rms_scaled_lr = true;
  // Multi-task mixing (T5 v1.0 was pretrained on span corruption plus supervised tasks): every step
  // adds task_rows supervised examples (the task examples given to the Pretrainer, in a seeded order
  // that repeats as needed) to its batch_size chunks. The loss is the chunks' token mean plus
  // task_weight x the task rows' token mean (their targets are a few tokens, so in one token mean
  // they would weigh almost nothing). 0 = span corruption only.
  int64_t task_rows = 0;
  double task_weight = 1.0;
  /// Throws ConfigError naming the broken constraint.
  void validate() const;
  nlohmann::json to_json() const;
};

struct PretrainResult {
  int64_t steps = 0;
  double epochs = 0;                                 // passes over the training chunks
  int64_t input_tokens = 0;                          // corrupted input tokens seen in training
  double final_loss = 0;                             // mean train loss of the last log window
  double heldout_loss = 0;                           // at the end
  std::vector<std::array<double, 2>> train_curve;    // (step, mean loss of the window)
  std::vector<std::array<double, 2>> heldout_curve;  // (step, held-out loss)
  double seconds = 0;                                // wall time (held-out evaluations included)
  nlohmann::json to_json() const;
};

/// The corrupted version of chunk `index` for `stream` (an epoch, or the fixed held-out stream).
data::CorruptedExample corrupt_chunk(const std::vector<int64_t>& chunk, const text::Tokenizer& tokenizer,
                                     const data::SpanCorruptionOptions& options, uint64_t seed, uint64_t stream,
                                     size_t index);

/// Mean token loss of `model` on the held-out chunks (fixed corruptions; eval mode, no gradients). In a
/// data-parallel run each process computes every N-th batch and all get the whole mean.
double heldout_loss(model::T5ModelImpl& model, const text::Tokenizer& tokenizer, const data::TextCorpus& corpus,
                    const PretrainOptions& options, uint64_t seed, const dist::DataParallel& dp = dist::DataParallel());

/// Trains every parameter of `model`; with ctx.comm, as one of N data-parallel processes (each computes
/// its shard of every batch, gradients summed; every process may resume from rank 0's state). Events
/// "start", "step", "heldout", "checkpoint", "resume", "done"; progress as "pretrain". The constructor
/// checks the corpus and vocabulary (ConfigError), makes the model trainable and builds the optimizer;
/// run() throws NumericError on a non-finite loss or gradient (naming the step) and Interrupted on
/// ctx.should_stop() (after saving the state, a PretrainState plus the tensors, when checkpointing),
/// and leaves the model in eval mode with its parameters frozen again. `model`, `tokenizer` and
/// `corpus` must outlive the Pretrainer. `task_examples` (tokenized supervised examples, e.g. from
/// data::pretraining_task_mixture) feed PretrainOptions::task_rows; ConfigError when task_rows > 0 and
/// there are none. Run it once.
class Pretrainer {
 public:
  Pretrainer(model::T5ModelImpl& model, const text::Tokenizer& tokenizer, const data::TextCorpus& corpus,
             const PretrainOptions& options, const RunContext& ctx, const Checkpointing& checkpointing = {},
             std::vector<data::TokenizedExample> task_examples = {});
  ~Pretrainer();
  Pretrainer(const Pretrainer&) = delete;
  Pretrainer& operator=(const Pretrainer&) = delete;

  PretrainResult run();
  /// Where the run is (after run(): where it ended).
  const PretrainState& state() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/// Pretrainer(...).run().
PretrainResult pretrain_model(model::T5ModelImpl& model, const text::Tokenizer& tokenizer,
                              const data::TextCorpus& corpus, const PretrainOptions& options, const RunContext& ctx,
                              const Checkpointing& checkpointing = {},
                              std::vector<data::TokenizedExample> task_examples = {});

}  // namespace bipeft::train
