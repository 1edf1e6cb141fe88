#pragma once
// Trains the PEFT modules (or the whole backbone) of a PeftModel on a task: AdamW with decoupled
// weight decay, linear decay with optional warm-up, gradient clipping, seeded data order and dropout,
// evaluation on dev every N epochs by greedy generation, the best-dev weights kept and scored on test.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/core/run_context.h"
#include "bipeft/data/task.h"
#include "bipeft/eval/evaluator.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/text/tokenizer.h"
#include "bipeft/train/run_state.h"
#include "bipeft/train/train_options.h"
#include "bipeft/train/train_state.h"

namespace bipeft::train {

struct TrainResult {
  int64_t steps = 0;               // optimizer steps taken
  int64_t best_epoch = -1;         // 1-based epoch of the best dev score (-1 if never evaluated)
  eval::EvalResult best_dev;       // dev metrics of the kept weights
  eval::EvalResult test;           // test metrics of the kept weights (empty when not evaluated)
  double final_loss = 0;           // mean train loss over the last epoch
  double train_seconds = 0;        // wall time of the optimizer steps
  double eval_seconds = 0;         // wall time of all evaluations
  std::vector<nlohmann::json> history;  // one entry per dev evaluation
  nlohmann::json to_json() const;
};

/// Trains `model` on `task` (train split; dev for selection; test at the end). Events go to
/// ctx.events ("start", "step", "eval", "done"), progress to ctx.progress. The constructor tokenizes
/// the splits and builds the optimizer (ConfigError when nothing is trainable, FormatError for an empty
/// train split); run() trains and returns with the model holding the best-dev weights. run() throws
/// NumericError on a non-finite loss or gradient (naming the step) and Interrupted when
/// ctx.should_stop() (after saving the state when checkpointing is enabled). With `checkpointing`, the
/// full state (a TrainState plus weights, optimizer, dropout generator, best snapshot) is saved every N
/// steps and a "checkpoint" event precedes each save; with resume, a run continues from the saved state
/// and ends bit-identical (on CPU) to an uninterrupted one. `model`, `tokenizer` and `task` must outlive
/// the Trainer. Run it once.
class Trainer {
 public:
  Trainer(peft::PeftModelImpl& model, const text::Tokenizer& tokenizer, const data::TaskData& task,
          const TrainOptions& options, const RunContext& ctx, const Checkpointing& checkpointing = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  TrainResult run();
  /// Where the run is (after run(): where it ended).
  const TrainState& state() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/// Trainer(...).run().
TrainResult train_model(peft::PeftModelImpl& model, const text::Tokenizer& tokenizer, const data::TaskData& task,
                        const TrainOptions& options, const RunContext& ctx, const Checkpointing& checkpointing = {});

/// "196,608 trainable parameters = 0.3247% = 32.47‱ of the backbone (60.5M)".
std::string describe_trainable(int64_t trainable, int64_t backbone);

}  // namespace bipeft::train
