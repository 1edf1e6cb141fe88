#include "bipeft/train/trainer.h"

#include <cmath>
#include <cstdio>

#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/core/timer.h"
#include "bipeft/data/collate.h"
#include "bipeft/data/splits.h"
#include "bipeft/dist/data_parallel.h"
#include "bipeft/io/file_util.h"
#include "bipeft/train/schedule.h"

namespace bipeft::train {

nlohmann::json TrainResult::to_json() const {
  return {{"steps", steps},
          {"best_epoch", best_epoch},
          {"dev", best_dev.to_json()},
          {"test", test.to_json()},
          {"final_train_loss", final_loss},
          {"train_seconds", train_seconds},
          {"eval_seconds", eval_seconds},
          {"history", history}};
}

std::string describe_trainable(int64_t trainable, int64_t backbone) {
  char buf[160];
  const double frac = backbone > 0 ? static_cast<double>(trainable) / static_cast<double>(backbone) : 0.0;
  std::snprintf(buf, sizeof buf, "%lld trainable parameters = %.4f%% = %.3f\u2031 of the backbone (%s)",
                static_cast<long long>(trainable), 100.0 * frac, 1e4 * frac,
                human_count(static_cast<double>(backbone)).c_str());
  return buf;
}

namespace {

std::vector<torch::Tensor> snapshot(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone());
  return out;
}

void restore_(std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
}

}  // namespace

class Trainer::Impl {
 public:
  Impl(peft::PeftModelImpl& pm, const text::Tokenizer& tok, const data::TaskData& task, const TrainOptions& o,
       const RunContext& ctx, const Checkpointing& ck);
  TrainResult run();

  TrainState state;

 private:
  void restore();
  void save(int64_t epoch, int64_t next_batch);
  Interrupted stop_here(int64_t epoch, int64_t next_batch);
  void train_epoch(int64_t epoch, bool continuing);
  void train_step(int64_t epoch, const std::vector<size_t>& idx);
  void evaluate_dev(int64_t epoch, int64_t batches);
  TrainResult finish();

  peft::PeftModelImpl& pm_;
  model::T5ModelImpl& backbone_;
  const text::Tokenizer& tok_;
  const data::TaskData& task_;
  const TrainOptions o_;
  const RunContext ctx_;
  const Checkpointing ck_;
  // Data parallelism: each process computes its shard of every global batch (one process: all of it);
  // evaluation is shared out too and every process gets the whole split's scores (so all keep the same
  // best epoch and callers that choose by dev score stay in step); rank 0 alone saves state.
  const dist::DataParallel dp_;
  const c10::Device device_;
  std::vector<data::TokenizedExample> train_tok_, dev_tok_, test_tok_;
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> best_;  // the best-dev weights (empty until a dev evaluation)
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::unique_ptr<LinearSchedule> schedule_;
  nlohmann::json start_event_;
  bool resumed_ = false;
  Timer train_timer_;        // started when the loop starts
  double eval_segment_ = 0;  // evaluation time within this segment (not training time)
};

namespace {

const TrainOptions& validated(const TrainOptions& o) {
  o.validate();
  return o;
}

}  // namespace

Trainer::Impl::Impl(peft::PeftModelImpl& pm, const text::Tokenizer& tok, const data::TaskData& task,
                    const TrainOptions& o, const RunContext& ctx, const Checkpointing& ck)
    : pm_(pm),
      backbone_(*pm.backbone),
      tok_(tok),
      task_(task),
      o_(validated(o)),
      ctx_(ctx),
      ck_(ck),
      dp_(ctx.comm),
      device_(pm.backbone->shared->weight.device()) {
  auto train_examples = data::first_n(task.train, o_.max_train_examples);
  if (train_examples.empty()) throw FormatError(task.name + ": the train split is empty");
  // Dropout; the one place a run seeds the global generator (each process draws its own masks).
  at::manual_seed(dp_.process_seed(ctx.seed));
  const int64_t tgt_len = data::max_target_length(tok, task);
  train_tok_ = data::tokenize_examples(tok, train_examples, task.max_source_length, tgt_len);
  dev_tok_ = data::tokenize_examples(tok, task.dev, task.max_source_length, tgt_len);
  test_tok_ = data::tokenize_examples(tok, task.test, task.max_source_length, tgt_len);

  params_ = pm.trainable_parameters();
  if (params_.empty()) throw ConfigError("nothing to train: the structure has no modules");
  opt_ = std::make_unique<torch::optim::AdamW>(params_, torch::optim::AdamWOptions(o_.lr).weight_decay(o_.weight_decay));
  const int64_t steps_per_epoch = (static_cast<int64_t>(train_tok_.size()) + o_.batch_size - 1) / o_.batch_size;
  state.total_steps = steps_per_epoch * o_.epochs;
  state.trainable = pm.trainable_count();
  schedule_ = std::make_unique<LinearSchedule>(
      state.total_steps, static_cast<int64_t>(o_.warmup_ratio * static_cast<double>(state.total_steps)));

  ctx_.info(describe_trainable(pm.trainable_count(), backbone_.num_parameters()));
  ctx_.info("training on " + std::to_string(train_tok_.size()) + " examples, " + std::to_string(o_.epochs) +
            " epochs x " + std::to_string(steps_per_epoch) + " steps, batch " + std::to_string(o_.batch_size));
  start_event_ = {{"event", "start"},
                  {"task", task.name},
                  {"train_examples", train_tok_.size()},
                  {"dev_examples", dev_tok_.size()},
                  {"test_examples", test_tok_.size()},
                  {"total_steps", state.total_steps},
                  {"trainable_params", pm.trainable_count()},
                  {"backbone_params", backbone_.num_parameters()},
                  {"options", o_.to_json()}};
}

void Trainer::Impl::restore() {
  auto st = RunState::load(ck_.path, "train");
  // Another run's state is refused before its fields are read.
  const auto& m = st.meta;
  if (m.value("total_steps", int64_t{-1}) != state.total_steps || m.value("trainable", int64_t{-1}) != state.trainable)
    throw ConfigError(ck_.path + ": the saved run has " + m.value("total_steps", nlohmann::json()).dump() +
                      " steps and " + m.value("trainable", nlohmann::json()).dump() + " trainable parameters, this one " +
                      std::to_string(state.total_steps) + " and " + std::to_string(state.trainable) +
                      "; resume with the original options");
  auto saved = TrainState::from_json(m, ck_.path);
  st.restore_params("weights", params_);
  st.get_optimizer("optimizer", *opt_);
  st.restore_default_generators(device_);
  if (saved.has_best) {
    best_ = snapshot(params_);
    st.copy_list_into("best", best_);
  }
  state = std::move(saved);
  resumed_ = true;
}

// Everything the loop needs to continue at (epoch, next_batch), written atomically.
void Trainer::Impl::save(int64_t epoch, int64_t next_batch) {
  ctx_.event({{"event", "checkpoint"}, {"step", state.step}});
  state.epoch = epoch;
  state.batch = next_batch;
  state.has_best = !best_.empty();
  RunState st("train");
  st.meta = state.to_json();
  st.meta["train_seconds"] = state.train_seconds + train_timer_.seconds() - eval_segment_;
  st.put_params("weights", params_);
  if (!best_.empty()) st.put_list("best", best_);
  st.put_optimizer("optimizer", *opt_);
  st.put_default_generators(device_);
  st.save(ck_.path);
}

// What a stop request between steps throws, after saving the state (rank 0, with checkpointing).
Interrupted Trainer::Impl::stop_here(int64_t epoch, int64_t next_batch) {
  const std::string at_step = "stopped at step " + std::to_string(state.step);
  if (!dp_.writer()) return Interrupted(at_step + " (rank 0 keeps the state)");
  if (!ck_.enabled()) return Interrupted(at_step + " (no checkpoint kept)");
  save(epoch, next_batch);
  return Interrupted(at_step + "; state saved in " + ck_.path);
}

void Trainer::Impl::train_step(int64_t epoch, const std::vector<size_t>& idx) {
  const double lr = o_.lr * schedule_->factor(state.step);
  for (auto& g : opt_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  opt_->zero_grad();
  // This process's shard of the batch; the gradients and loss of the whole batch on every process.
  const double loss = dp_.backward_(dp_.shard_loss(train_tok_, idx, [&](const std::vector<size_t>& rows) {
    return objective_loss(o_.objective, backbone_, data::make_batch(train_tok_, rows, tok_.pad_id()));
  }), {}, params_);
  if (!std::isfinite(loss))
    throw NumericError("loss is " + std::to_string(loss) + " at step " + std::to_string(state.step + 1) + " (epoch " +
                       std::to_string(epoch + 1) + "); lower TrainOptions.lr or check the data");
  if (o_.clip_norm > 0) {
    const double norm = torch::nn::utils::clip_grad_norm_(params_, o_.clip_norm);
    if (!std::isfinite(norm))
      throw NumericError("gradient norm is " + std::to_string(norm) + " at step " + std::to_string(state.step + 1) +
                         "; lower TrainOptions.lr or check the data");
  }
  opt_->step();
  ++state.step;
  state.epoch_loss += loss;
  state.window_loss += loss;
  ++state.epoch_batches;
  ++state.window;
  if (state.step % o_.log_every == 0 || state.step == state.total_steps) {
    ctx_.event({{"event", "step"},
                {"step", state.step},
                {"epoch", epoch + 1},
                {"loss", state.window_loss / static_cast<double>(state.window)},
                {"lr", lr}});
    state.window_loss = 0;
    state.window = 0;
  }
  char status[96];
  std::snprintf(status, sizeof status, "epoch %lld/%lld loss %.4f", static_cast<long long>(epoch + 1),
                static_cast<long long>(o_.epochs), state.epoch_loss / static_cast<double>(state.epoch_batches));
  ctx_.report({"train", state.step, state.total_steps, status});
}

// Dev scores after `epoch`; the weights are kept when they are the best so far.
void Trainer::Impl::evaluate_dev(int64_t epoch, int64_t batches) {
  eval::EvalOptions eo;
  eo.batch_size = o_.eval_batch_size;
  eo.decoding = o_.decoding;
  eo.label = "eval dev";
  eval::EvalResult dev;
  try {
    dev = eval::evaluate(backbone_, tok_, task_, task_.dev, dev_tok_, eo, ctx_);
  } catch (const Interrupted&) {
    throw stop_here(epoch, batches);
  }
  state.eval_seconds += dev.seconds;
  eval_segment_ += dev.seconds;
  nlohmann::json entry = {{"event", "eval"}, {"split", "dev"}, {"epoch", epoch + 1}, {"step", state.step},
                          {"metrics", dev.to_json()}, {"train_loss", state.final_loss}};
  ctx_.event(entry);
  state.history.push_back(entry);
  ctx_.info("epoch " + std::to_string(epoch + 1) + ": train loss " + std::to_string(state.final_loss) + ", dev " +
            dev.to_json().dump());
  if (dev.primary() > state.best_value || best_.empty()) {
    state.best_value = dev.primary();
    best_ = snapshot(params_);
    state.best_epoch = epoch + 1;
    state.best_dev = dev;
  }
}

void Trainer::Impl::train_epoch(int64_t epoch, bool continuing) {
  pm_.train(true);
  if (!continuing) {
    state.epoch_loss = state.window_loss = 0;
    state.epoch_batches = state.window = 0;
  }
  const auto batches = data::epoch_batches(train_tok_.size(), o_.batch_size, ctx_.seed, epoch, /*shuffle=*/true);
  for (size_t b = continuing ? static_cast<size_t>(state.batch) : 0; b < batches.size(); ++b) {
    if (dp_.any(ctx_.should_stop())) throw stop_here(epoch, static_cast<int64_t>(b));
    train_step(epoch, batches[b]);
    if (dp_.writer() && ck_.due(state.step)) save(epoch, static_cast<int64_t>(b) + 1);
  }
  state.final_loss = state.epoch_loss / static_cast<double>(std::max<int64_t>(1, state.epoch_batches));
  const bool last = epoch + 1 == o_.epochs;
  if (!dev_tok_.empty() && ((epoch + 1) % o_.eval_every == 0 || last))
    evaluate_dev(epoch, static_cast<int64_t>(batches.size()));
}

TrainResult Trainer::Impl::run() {
  if (ck_.resume && io::is_file(ck_.path)) {
    restore();
    ctx_.info("resumed from " + ck_.path + " at step " + std::to_string(state.step) + " of " +
              std::to_string(state.total_steps));
    ctx_.event({{"event", "resume"}, {"step", state.step}});
  } else {
    ctx_.event(start_event_);
  }
  dp_.broadcast_from_writer_(params_);  // every process starts from rank 0's weights
  train_timer_.reset();
  const int64_t start_epoch = state.epoch;
  for (int64_t epoch = start_epoch; epoch < o_.epochs; ++epoch) train_epoch(epoch, resumed_ && epoch == start_epoch);
  return finish();
}

// After the last epoch: the best-dev weights back in the model, scored on test.
TrainResult Trainer::Impl::finish() {
  TrainResult result;
  result.steps = state.step;
  result.best_epoch = state.best_epoch;
  result.best_dev = state.best_dev;
  result.history = state.history;
  result.final_loss = state.final_loss;
  result.train_seconds = state.train_seconds + train_timer_.seconds() - eval_segment_;
  if (ctx_.progress) ctx_.progress->finish("train");
  if (!best_.empty()) restore_(params_, best_);
  double eval_total = state.eval_seconds;
  if (o_.eval_test && !test_tok_.empty()) {
    eval::EvalOptions eo;
    eo.batch_size = o_.eval_batch_size;
    eo.decoding = o_.decoding;
    eo.label = "eval test";
    result.test = eval::evaluate(backbone_, tok_, task_, task_.test, test_tok_, eo, ctx_);
    eval_total += result.test.seconds;
    ctx_.event({{"event", "eval"}, {"split", "test"}, {"epoch", result.best_epoch}, {"metrics", result.test.to_json()}});
  }
  result.eval_seconds = eval_total;
  pm_.train(false);
  ctx_.event({{"event", "done"}, {"steps", state.step}, {"best_epoch", result.best_epoch},
              {"dev", result.best_dev.to_json()}, {"test", result.test.to_json()},
              {"train_seconds", result.train_seconds}, {"eval_seconds", eval_total}});
  return result;
}

Trainer::Trainer(peft::PeftModelImpl& model, const text::Tokenizer& tokenizer, const data::TaskData& task,
                 const TrainOptions& options, const RunContext& ctx, const Checkpointing& checkpointing)
    : impl_(std::make_unique<Impl>(model, tokenizer, task, options, ctx, checkpointing)) {}

Trainer::~Trainer() = default;

TrainResult Trainer::run() { return impl_->run(); }

const TrainState& Trainer::state() const { return impl_->state; }

TrainResult train_model(peft::PeftModelImpl& pm, const text::Tokenizer& tok, const data::TaskData& task,
                        const TrainOptions& o, const RunContext& ctx, const Checkpointing& ck) {
  return Trainer(pm, tok, task, o, ctx, ck).run();
}

}  // namespace bipeft::train
