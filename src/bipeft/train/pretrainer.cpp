#include "bipeft/train/pretrainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include "bipeft/core/autocast.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/core/timer.h"
#include "bipeft/data/collate.h"
#include "bipeft/data/splits.h"
#include "bipeft/dist/data_parallel.h"
#include "bipeft/io/file_util.h"
#include "bipeft/train/schedule.h"

namespace bipeft::train {

void PretrainOptions::validate() const {
  auto need = [](bool ok, const char* field, const std::string& rule) {
    if (!ok) throw OptionError("PretrainOptions", field, rule);
  };
  need(steps >= 1, "steps", "must be at least 1");
  need(batch_size >= 1, "batch_size", "must be at least 1");
  need(corruption.noise_density > 0 && corruption.noise_density < 1, "noise_density", "must be in (0, 1)");
  need(corruption.mean_span_length >= 1 && std::isfinite(corruption.mean_span_length), "mean_span_length",
       "must be at least 1");
  need(lr > 0 && std::isfinite(lr), "lr", "must be a positive number");
  need(weight_decay >= 0 && std::isfinite(weight_decay), "weight_decay", "must be >= 0");
  need(warmup_ratio >= 0 && warmup_ratio < 1, "warmup_ratio", "must be in [0, 1)");
  need(clip_norm >= 0 && std::isfinite(clip_norm), "clip_norm", "must be >= 0");
  need(eval_every >= 1, "eval_every", "must be at least 1");
  need(eval_examples >= 0, "eval_examples", "must be >= 0");
  need(eval_batch_size >= 1, "eval_batch_size", "must be at least 1");
  need(log_every >= 1, "log_every", "must be at least 1");
  need(task_rows >= 0, "task_rows", "must be >= 0");
  need(task_weight >= 0 && std::isfinite(task_weight), "task_weight", "must be >= 0");
}

nlohmann::json PretrainOptions::to_json() const {
  return {{"steps", steps},
          {"batch_size", batch_size},
          {"noise_density", corruption.noise_density},
          {"mean_span_length", corruption.mean_span_length},
          {"lr", lr},
          {"weight_decay", weight_decay},
          {"warmup_ratio", warmup_ratio},
          {"clip_norm", clip_norm},
          {"eval_every", eval_every},
          {"eval_examples", eval_examples},
          {"eval_batch_size", eval_batch_size},
          {"log_every", log_every},
          {"autocast", autocast_bf16 ? "bf16" : "off"},
          {"lr_scale", rms_scaled_lr ? "rms" : "none"},
          {"task_rows", task_rows},
          {"task_weight", task_weight}};
}

nlohmann::json PretrainResult::to_json() const {
  return {{"steps", steps},           {"epochs", epochs},         {"input_tokens", input_tokens},
          {"final_loss", final_loss}, {"heldout_loss", heldout_loss}, {"seconds", seconds},
          {"train_curve", train_curve}, {"heldout_curve", heldout_curve}};
}

namespace {

constexpr uint64_t kHeldoutStream = 0x68656c646f7574ULL;  // "heldout": fixed corruptions for the held-out loss
constexpr uint64_t kEpochStreamBase = 0x6570000000000000ULL;
constexpr uint64_t kTaskStream = 0x7461736b73ULL;  // "tasks": the order of the supervised examples

data::TokenizedExample to_example(const data::CorruptedExample& c) { return {c.input_ids, c.target_ids}; }

}  // namespace

data::CorruptedExample corrupt_chunk(const std::vector<int64_t>& chunk, const text::Tokenizer& tok,
                                     const data::SpanCorruptionOptions& o, uint64_t seed, uint64_t stream,
                                     size_t index) {
  const uint64_t s = data::derive_seed(data::derive_seed(seed, stream), index);
  const auto mask = data::random_spans_noise_mask(static_cast<int64_t>(chunk.size()), o, s);
  return data::corrupt_spans(chunk, mask, tok.sentinel_id(0), text::Tokenizer::kNumSentinels, tok.eos_id());
}

double heldout_loss(model::T5ModelImpl& model, const text::Tokenizer& tok, const data::TextCorpus& corpus,
                    const PretrainOptions& o, uint64_t seed, const dist::DataParallel& dp) {
  const size_t n = o.eval_examples > 0 ? std::min(corpus.heldout.size(), static_cast<size_t>(o.eval_examples))
                                       : corpus.heldout.size();
  if (n == 0) return NAN;
  const auto device = model.shared->weight.device();
  const bool was_training = model.is_training();
  model.train(false);
  torch::NoGradGuard no_grad;
  std::vector<data::TokenizedExample> examples;
  for (size_t i = 0; i < n; ++i)
    examples.push_back(to_example(corrupt_chunk(corpus.heldout[i], tok, o.corruption, seed, kHeldoutStream, i)));
  double total = 0, tokens = 0;
  size_t batch = 0;
  for (size_t start = 0; start < n; start += static_cast<size_t>(o.eval_batch_size), ++batch) {
    if (!dp.takes(batch)) continue;  // another process's
    std::vector<size_t> idx;
    for (size_t i = start; i < std::min(n, start + static_cast<size_t>(o.eval_batch_size)); ++i) idx.push_back(i);
    auto b = data::make_batch(examples, idx, tok.pad_id());
    auto out = model.forward(b.input_ids.to(device), b.attention_mask.to(device), {}, b.labels.to(device));
    const double count = static_cast<double>((b.labels != data::kLabelPad).sum().item<int64_t>());
    total += out.loss.item<double>() * count;
    tokens += count;
  }
  model.train(was_training);
  if (dp.active()) {
    auto sums = at::tensor({total, tokens}, at::kDouble);
    dp.sum_(sums);
    total = sums[0].item<double>();
    tokens = sums[1].item<double>();
  }
  return total / tokens;
}

class Pretrainer::Impl {
 public:
  Impl(model::T5ModelImpl& model, const text::Tokenizer& tok, const data::TextCorpus& corpus, const PretrainOptions& o,
       const RunContext& ctx, const Checkpointing& ck, std::vector<data::TokenizedExample> tasks);
  PretrainResult run();

  PretrainState state;

 private:
  void restore();
  void save();
  void evaluate();
  void check_stop();
  void train_step(const std::vector<size_t>& idx);
  void set_learning_rates(double lr);
  std::vector<size_t> task_rows_of_step(int64_t step);
  PretrainResult finish(size_t batches_per_epoch);

  model::T5ModelImpl& model_;
  const text::Tokenizer& tok_;
  const data::TextCorpus& corpus_;
  const PretrainOptions o_;
  const RunContext ctx_;
  const Checkpointing ck_;
  const std::vector<data::TokenizedExample> tasks_;  // supervised examples mixed into every batch
  std::vector<size_t> task_order_;                    // the order of task pass task_pass_
  int64_t task_pass_ = -1;
  // Data parallelism: each process computes its shard of every global batch (one process: all of it)
  // and the held-out batches are shared out; rank 0 alone saves the state.
  const dist::DataParallel dp_;
  const c10::Device device_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::unique_ptr<LinearSchedule> schedule_;
  bool resumed_ = false;
  Timer timer_;  // started when the loop starts
};

namespace {

const PretrainOptions& validated(const PretrainOptions& o) {
  o.validate();
  return o;
}

}  // namespace

Pretrainer::Impl::Impl(model::T5ModelImpl& model, const text::Tokenizer& tok, const data::TextCorpus& corpus,
                       const PretrainOptions& o, const RunContext& ctx, const Checkpointing& ck,
                       std::vector<data::TokenizedExample> tasks)
    : model_(model),
      tok_(tok),
      corpus_(corpus),
      o_(validated(o)),
      ctx_(ctx),
      ck_(ck),
      tasks_(std::move(tasks)),
      dp_(ctx.comm),
      device_(model.shared->weight.device()) {
  if (corpus.train.empty()) throw ConfigError("the pretraining corpus has no training chunks");
  if (o_.task_rows > 0 && tasks_.empty())
    throw ConfigError("PretrainOptions.task_rows is " + std::to_string(o_.task_rows) +
                      " but no task examples were given; give supervised examples or set it to 0");
  if (model.config.vocab_size < tok.vocab_size())
    throw ConfigError("the model has " + std::to_string(model.config.vocab_size) + " vocabulary rows, the tokenizer " +
                      std::to_string(tok.vocab_size()) + " ids (sentinels included)");
  at::manual_seed(dp_.process_seed(ctx.seed));  // dropout
  model.set_backbone_trainable(true);
  params_ = model.parameters();
  // One parameter group per tensor, so that each can take its own (RMS-scaled) learning rate.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& p : params_) groups.emplace_back(std::vector<torch::Tensor>{p});
  opt_ = std::make_unique<torch::optim::AdamW>(std::move(groups),
                                               torch::optim::AdamWOptions(o_.lr).weight_decay(o_.weight_decay));
  schedule_ = std::make_unique<LinearSchedule>(o_.steps, static_cast<int64_t>(o_.warmup_ratio * static_cast<double>(o_.steps)));
  state.total_steps = o_.steps;
  state.chunks = static_cast<int64_t>(corpus.train.size());
  state.parameters = model.num_parameters();
  state.task_examples = o_.task_rows > 0 ? static_cast<int64_t>(tasks_.size()) : 0;
}

void Pretrainer::Impl::restore() {
  auto st = RunState::load(ck_.path, "pretrain");
  // Another run's state is refused before its fields are read.
  const auto& m = st.meta;
  if (m.value("total_steps", int64_t{-1}) != state.total_steps || m.value("chunks", int64_t{-1}) != state.chunks ||
      m.value("parameters", int64_t{-1}) != state.parameters ||
      m.value("task_examples", int64_t{0}) != state.task_examples)
    throw ConfigError(ck_.path + ": the saved run has " + m.value("total_steps", nlohmann::json()).dump() +
                      " steps over " + m.value("chunks", nlohmann::json()).dump() + " chunks, this one " +
                      std::to_string(state.total_steps) + " over " + std::to_string(state.chunks) +
                      "; resume with the original model, text and options");
  auto saved = PretrainState::from_json(m, ck_.path);
  st.restore_params("weights", params_);
  st.get_optimizer("optimizer", *opt_);
  st.restore_default_generators(device_);
  // Every process loads the whole run's state (rank 0's generators): the others continue on their own
  // dropout streams, derived from the step.
  if (!dp_.writer()) at::manual_seed(data::derive_seed(dp_.process_seed(ctx_.seed), static_cast<uint64_t>(saved.step)));
  state = std::move(saved);
  resumed_ = true;
}

// Everything the loop needs to continue, written atomically.
void Pretrainer::Impl::save() {
  ctx_.event({{"event", "checkpoint"}, {"step", state.step}});
  RunState st("pretrain");
  st.meta = state.to_json();
  st.meta["seconds"] = state.seconds + timer_.seconds();
  st.put_params("weights", params_);
  st.put_optimizer("optimizer", *opt_);
  st.put_default_generators(device_);
  st.save(ck_.path);
}

void Pretrainer::Impl::evaluate() {
  const double loss = heldout_loss(model_, tok_, corpus_, o_, ctx_.seed, dp_);
  if (std::isnan(loss)) return;
  state.heldout_curve.push_back({static_cast<double>(state.step), loss});
  ctx_.event({{"event", "heldout"}, {"step", state.step}, {"loss", loss}});
}

// A stop request between steps: the state is saved (rank 0, with checkpointing) and Interrupted thrown.
void Pretrainer::Impl::check_stop() {
  if (!dp_.any(ctx_.should_stop())) return;
  const std::string at_step = "pretraining stopped at step " + std::to_string(state.step);
  if (!dp_.writer()) throw Interrupted(at_step + " (rank 0 keeps the state)");
  if (!ck_.enabled()) throw Interrupted(at_step + " (no checkpoint kept)");
  save();
  throw Interrupted(at_step + "; state saved in " + ck_.path);
}

// The schedule's rate, scaled per tensor by its RMS with --rms-scaled-lr.
void Pretrainer::Impl::set_learning_rates(double lr) {
  auto& groups = opt_->param_groups();
  at::Tensor rms;  // each tensor's RMS, brought to the host in one transfer (not one sync per tensor)
  if (o_.rms_scaled_lr) {
    torch::NoGradGuard ng;
    std::vector<at::Tensor> each;
    for (auto& g : groups) each.push_back(g.params().front().detach().to(at::kFloat).pow(2).mean().sqrt());
    rms = at::stack(each).to(at::kCPU, at::kDouble);
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    const double scale = rms.defined() ? std::max(1e-3, rms[static_cast<int64_t>(i)].item<double>()) : 1.0;
    static_cast<torch::optim::AdamWOptions&>(groups[i].options()).lr(lr * scale);
  }
}

// The supervised examples of step `step`: rows [step * n, (step + 1) * n) of a stream that goes through
// the task examples in a seeded order, a new order per pass (a function of the step alone, so a resumed
// run takes the same rows).
std::vector<size_t> Pretrainer::Impl::task_rows_of_step(int64_t step) {
  std::vector<size_t> rows;
  const auto n = static_cast<uint64_t>(tasks_.size());
  for (int64_t j = 0; j < o_.task_rows; ++j) {
    const uint64_t k = static_cast<uint64_t>(step * o_.task_rows + j);
    const auto pass = static_cast<int64_t>(k / n);
    if (pass != task_pass_) {
      task_order_.clear();
      for (const auto& b : data::epoch_batches(tasks_.size(), 1, data::derive_seed(ctx_.seed, kTaskStream), pass, true))
        task_order_.push_back(b.front());
      task_pass_ = pass;
    }
    rows.push_back(task_order_[k % n]);
  }
  return rows;
}

// One optimizer step on the chunks `idx`, corrupted for this epoch.
void Pretrainer::Impl::train_step(const std::vector<size_t>& idx) {
  std::vector<data::TokenizedExample> examples;
  std::vector<size_t> rows;
  for (size_t i : idx) {
    examples.push_back(to_example(corrupt_chunk(corpus_.train[i], tok_, o_.corruption, ctx_.seed,
                                                kEpochStreamBase + static_cast<uint64_t>(state.epoch), i)));
    state.input_tokens += static_cast<int64_t>(examples.back().source_ids.size());
    rows.push_back(rows.size());
  }
  const double lr = o_.lr * schedule_->factor(state.step);
  set_learning_rates(lr);
  opt_->zero_grad();
  // This process's shard of the batch; the gradients and loss of the whole batch on every process.
  auto loss_on = [this](const std::vector<data::TokenizedExample>& from) {
    return [this, src = &from](const std::vector<size_t>& shard) {
      auto b = data::make_batch(*src, shard, tok_.pad_id());
      const AutocastScope mixed(device_, o_.autocast_bf16);
      return model_.forward(b.input_ids.to(device_), b.attention_mask.to(device_), {}, b.labels.to(device_)).loss;
    };
  };
  auto objective = dp_.shard_loss(examples, rows, loss_on(examples));
  if (o_.task_rows > 0) {
    // The task rows' own token mean, weighted, beside the chunks'.
    auto task_part = dp_.shard_loss(tasks_, task_rows_of_step(state.step), loss_on(tasks_));
    if (task_part.defined()) {
      task_part = task_part * o_.task_weight;
      objective = objective.defined() ? objective + task_part : task_part;
    }
  }
  const double loss = dp_.backward_(objective, {}, params_);
  if (!std::isfinite(loss))
    throw NumericError("pretraining loss is " + std::to_string(loss) + " at step " + std::to_string(state.step + 1) +
                       "; lower PretrainOptions.lr");
  if (o_.clip_norm > 0) {
    const double norm = torch::nn::utils::clip_grad_norm_(params_, o_.clip_norm);
    if (!std::isfinite(norm))
      throw NumericError("gradient norm is " + std::to_string(norm) + " at step " + std::to_string(state.step + 1) +
                         "; lower PretrainOptions.lr");
  }
  opt_->step();
  ++state.step;
  ++state.batch;
  state.window_loss += loss;
  ++state.window;
  if (state.step % o_.log_every == 0 || state.step == o_.steps) {
    state.final_loss = state.window_loss / static_cast<double>(state.window);
    state.train_curve.push_back({static_cast<double>(state.step), state.final_loss});
    ctx_.event({{"event", "step"}, {"step", state.step}, {"epoch", state.epoch + 1}, {"loss", state.final_loss}, {"lr", lr}});
    state.window_loss = 0;
    state.window = 0;
  }
  if (state.step % o_.eval_every == 0 || state.step == o_.steps) {
    evaluate();
    model_.train(true);
  }
  char status[96];
  std::snprintf(status, sizeof status, "epoch %lld loss %.3f", static_cast<long long>(state.epoch + 1), loss);
  ctx_.report({"pretrain", state.step, o_.steps, status});
}

PretrainResult Pretrainer::Impl::run() {
  const size_t n = corpus_.train.size();
  if (ck_.resume && io::is_file(ck_.path)) {
    restore();
    ctx_.info("resumed from " + ck_.path + " at step " + std::to_string(state.step) + " of " + std::to_string(o_.steps));
    ctx_.event({{"event", "resume"}, {"step", state.step}});
  } else {
    ctx_.info(human_count(static_cast<double>(model_.num_parameters())) + " parameters; " + std::to_string(n) +
              " training chunks, " + std::to_string(corpus_.heldout.size()) + " held out; " + std::to_string(o_.steps) +
              " steps of " + std::to_string(o_.batch_size));
    ctx_.event({{"event", "start"},
                {"parameters", model_.num_parameters()},
                {"train_chunks", n},
                {"heldout_chunks", corpus_.heldout.size()},
                {"corpus_tokens", corpus_.tokens},
                {"corpus_lines", corpus_.lines},
                {"task_examples", state.task_examples},
                {"options", o_.to_json()}});
  }
  dp_.broadcast_from_writer_(params_);  // every process starts from rank 0's weights
  timer_.reset();
  if (!resumed_) evaluate();
  model_.train(true);
  auto batches = data::epoch_batches(n, o_.batch_size, ctx_.seed, state.epoch, /*shuffle=*/true);
  while (state.step < o_.steps) {
    if (state.batch >= static_cast<int64_t>(batches.size())) {
      ++state.epoch;
      state.batch = 0;
      batches = data::epoch_batches(n, o_.batch_size, ctx_.seed, state.epoch, /*shuffle=*/true);
    }
    check_stop();
    train_step(batches[static_cast<size_t>(state.batch)]);
    if (dp_.writer() && ck_.due(state.step)) save();
  }
  return finish(batches.size());
}

PretrainResult Pretrainer::Impl::finish(size_t batches_per_epoch) {
  if (ctx_.progress) ctx_.progress->finish("pretrain");
  PretrainResult result;
  result.steps = state.step;
  const double per_epoch = static_cast<double>(batches_per_epoch);
  result.epochs = (static_cast<double>(state.epoch) * per_epoch + static_cast<double>(state.batch)) / per_epoch;
  result.input_tokens = state.input_tokens;
  result.final_loss = state.final_loss;
  result.train_curve = state.train_curve;
  result.heldout_curve = state.heldout_curve;
  result.heldout_loss = result.heldout_curve.empty() ? NAN : result.heldout_curve.back()[1];
  result.seconds = state.seconds + timer_.seconds();
  model_.train(false);
  model_.set_backbone_trainable(false);
  ctx_.event({{"event", "done"}, {"result", result.to_json()}});
  return result;
}

Pretrainer::Pretrainer(model::T5ModelImpl& model, const text::Tokenizer& tokenizer, const data::TextCorpus& corpus,
                       const PretrainOptions& options, const RunContext& ctx, const Checkpointing& checkpointing,
                       std::vector<data::TokenizedExample> task_examples)
    : impl_(std::make_unique<Impl>(model, tokenizer, corpus, options, ctx, checkpointing, std::move(task_examples))) {}

Pretrainer::~Pretrainer() = default;

PretrainResult Pretrainer::run() { return impl_->run(); }

const PretrainState& Pretrainer::state() const { return impl_->state; }

PretrainResult pretrain_model(model::T5ModelImpl& model, const text::Tokenizer& tok, const data::TextCorpus& corpus,
                              const PretrainOptions& o, const RunContext& ctx, const Checkpointing& ck,
                              std::vector<data::TokenizedExample> task_examples) {
  return Pretrainer(model, tok, corpus, o, ctx, ck, std::move(task_examples)).run();
}

}  // namespace bipeft::train
