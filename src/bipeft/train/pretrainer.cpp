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
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw ConfigError(what);
  };
  need(steps >= 1, "--steps must be at least 1");
  need(batch_size >= 1, "--batch must be at least 1");
  need(corruption.noise_density > 0 && corruption.noise_density < 1, "--noise must be in (0, 1)");
  need(corruption.mean_span_length >= 1 && std::isfinite(corruption.mean_span_length), "--mean-span must be at least 1");
  need(lr > 0 && std::isfinite(lr), "--lr must be a positive number");
  need(weight_decay >= 0 && std::isfinite(weight_decay), "--weight-decay must be >= 0");
  need(warmup_ratio >= 0 && warmup_ratio < 1, "--warmup-ratio must be in [0, 1)");
  need(clip_norm >= 0 && std::isfinite(clip_norm), "--clip must be >= 0");
  need(eval_every >= 1, "--eval-every must be at least 1");
  need(eval_examples >= 0, "--eval-examples must be >= 0");
  need(eval_batch_size >= 1, "--eval-batch must be at least 1");
  need(log_every >= 1, "--log-every must be at least 1");
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
          {"lr_scale", rms_scaled_lr ? "rms" : "none"}};
}

nlohmann::json PretrainResult::to_json() const {
  return {{"steps", steps},           {"epochs", epochs},         {"input_tokens", input_tokens},
          {"final_loss", final_loss}, {"heldout_loss", heldout_loss}, {"seconds", seconds},
          {"train_curve", train_curve}, {"heldout_curve", heldout_curve}};
}

namespace {

constexpr uint64_t kHeldoutStream = 0x68656c646f7574ULL;  // "heldout": fixed corruptions for the held-out loss
constexpr uint64_t kEpochStreamBase = 0x6570000000000000ULL;

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
    if (batch % static_cast<size_t>(dp.world_size()) != static_cast<size_t>(dp.rank())) continue;  // another process's
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

PretrainResult pretrain_model(model::T5ModelImpl& model, const text::Tokenizer& tok, const data::TextCorpus& corpus,
                              const PretrainOptions& o, const RunContext& ctx, const Checkpointing& ck) {
  o.validate();
  if (corpus.train.empty()) throw ConfigError("the pretraining corpus has no training chunks");
  if (model.config.vocab_size < tok.vocab_size())
    throw ConfigError("the model has " + std::to_string(model.config.vocab_size) + " vocabulary rows, the tokenizer " +
                      std::to_string(tok.vocab_size()) + " ids (sentinels included)");
  // Data parallelism: each process computes its shard of every global batch (one process: all of it)
  // and the held-out batches are shared out; rank 0 alone saves the state.
  const dist::DataParallel dp(ctx.comm);
  at::manual_seed(dp.process_seed(ctx.seed));  // dropout
  const auto device = model.shared->weight.device();
  model.set_backbone_trainable(true);
  auto params = model.parameters();
  // One parameter group per tensor, so that each can take its own (RMS-scaled) learning rate.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& p : params) groups.emplace_back(std::vector<torch::Tensor>{p});
  torch::optim::AdamW opt(std::move(groups), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  LinearSchedule schedule(o.steps, static_cast<int64_t>(o.warmup_ratio * static_cast<double>(o.steps)));
  const size_t n = corpus.train.size();

  PretrainResult result;
  int64_t step = 0, epoch = 0, next_batch = 0;
  double window_loss = 0;
  int64_t window = 0;
  double seconds_before = 0;
  const bool resumed = ck.resume && io::is_file(ck.path);
  if (resumed) {
    auto st = RunState::load(ck.path, "pretrain");
    const auto& m = st.meta;
    if (m.at("total_steps").get<int64_t>() != o.steps || m.at("chunks").get<size_t>() != n ||
        m.at("parameters").get<int64_t>() != model.num_parameters())
      throw ConfigError(ck.path + ": the saved run has " + m.at("total_steps").dump() + " steps over " +
                        m.at("chunks").dump() + " chunks, this one " + std::to_string(o.steps) + " over " +
                        std::to_string(n) + "; resume with the original model, text and options");
    st.restore_params("weights", params);
    st.get_optimizer("optimizer", opt);
    st.restore_default_generators(device);
    step = m.at("step");
    // Every process loads the whole run's state (rank 0's generators): the others continue on their
    // own dropout streams, derived from the step.
    if (!dp.writer()) at::manual_seed(data::derive_seed(dp.process_seed(ctx.seed), static_cast<uint64_t>(step)));
    epoch = m.at("epoch");
    next_batch = m.at("batch");
    window_loss = m.at("window_loss");
    window = m.at("window");
    result.input_tokens = m.at("input_tokens");
    result.final_loss = m.at("final_loss");
    result.train_curve = m.at("train_curve").get<std::vector<std::array<double, 2>>>();
    result.heldout_curve = m.at("heldout_curve").get<std::vector<std::array<double, 2>>>();
    seconds_before = m.at("seconds");
    ctx.info("resumed from " + ck.path + " at step " + std::to_string(step) + " of " + std::to_string(o.steps));
    ctx.event({{"event", "resume"}, {"step", step}});
  } else {
    ctx.info(human_count(static_cast<double>(model.num_parameters())) + " parameters; " + std::to_string(n) +
             " training chunks, " + std::to_string(corpus.heldout.size()) + " held out; " + std::to_string(o.steps) +
             " steps of " + std::to_string(o.batch_size));
    ctx.event({{"event", "start"},
               {"parameters", model.num_parameters()},
               {"train_chunks", n},
               {"heldout_chunks", corpus.heldout.size()},
               {"corpus_tokens", corpus.tokens},
               {"corpus_lines", corpus.lines},
               {"options", o.to_json()}});
  }
  dp.broadcast_from_writer_(params);  // every process starts from rank 0's weights
  Timer timer;
  auto evaluate = [&] {
    const double loss = heldout_loss(model, tok, corpus, o, ctx.seed, dp);
    if (std::isnan(loss)) return;
    result.heldout_curve.push_back({static_cast<double>(step), loss});
    ctx.event({{"event", "heldout"}, {"step", step}, {"loss", loss}});
  };
  auto save_state = [&] {
    ctx.event({{"event", "checkpoint"}, {"step", step}});
    RunState st("pretrain");
    st.meta = {{"step", step},
               {"epoch", epoch},
               {"batch", next_batch},
               {"total_steps", o.steps},
               {"chunks", n},
               {"parameters", model.num_parameters()},
               {"window_loss", window_loss},
               {"window", window},
               {"input_tokens", result.input_tokens},
               {"final_loss", result.final_loss},
               {"train_curve", result.train_curve},
               {"heldout_curve", result.heldout_curve},
               {"seconds", seconds_before + timer.seconds()}};
    st.put_params("weights", params);
    st.put_optimizer("optimizer", opt);
    st.put_default_generators(device);
    st.save(ck.path);
  };
  if (!resumed) evaluate();
  model.train(true);
  auto batches = data::epoch_batches(n, o.batch_size, ctx.seed, epoch, /*shuffle=*/true);
  while (step < o.steps) {
    if (next_batch >= static_cast<int64_t>(batches.size())) {
      ++epoch;
      next_batch = 0;
      batches = data::epoch_batches(n, o.batch_size, ctx.seed, epoch, /*shuffle=*/true);
    }
    if (dp.any(ctx.should_stop())) {
      if (!dp.writer())
        throw Interrupted("pretraining stopped at step " + std::to_string(step) + " (rank 0 keeps the state)");
      if (!ck.enabled()) throw Interrupted("pretraining stopped at step " + std::to_string(step) + " (no checkpoint kept)");
      save_state();
      throw Interrupted("pretraining stopped at step " + std::to_string(step) + "; state saved in " + ck.path);
    }
    const auto& idx = batches[static_cast<size_t>(next_batch)];
    std::vector<data::TokenizedExample> examples;
    std::vector<size_t> rows;
    for (size_t i : idx) {
      examples.push_back(to_example(corrupt_chunk(corpus.train[i], tok, o.corruption, ctx.seed,
                                                  kEpochStreamBase + static_cast<uint64_t>(epoch), i)));
      result.input_tokens += static_cast<int64_t>(examples.back().source_ids.size());
      rows.push_back(rows.size());
    }
    const double lr = o.lr * schedule.factor(step);
    auto& groups = opt.param_groups();
    at::Tensor rms;  // each tensor's RMS, brought to the host in one transfer (not one sync per tensor)
    if (o.rms_scaled_lr) {
      torch::NoGradGuard ng;
      std::vector<at::Tensor> each;
      for (auto& g : groups) each.push_back(g.params().front().detach().to(at::kFloat).pow(2).mean().sqrt());
      rms = at::stack(each).to(at::kCPU, at::kDouble);
    }
    for (size_t i = 0; i < groups.size(); ++i) {
      const double scale = rms.defined() ? std::max(1e-3, rms[static_cast<int64_t>(i)].item<double>()) : 1.0;
      static_cast<torch::optim::AdamWOptions&>(groups[i].options()).lr(lr * scale);
    }
    opt.zero_grad();
    // This process's shard of the batch; the gradients and loss of the whole batch on every process.
    const double loss = dp.backward_(dp.shard_loss(examples, rows, [&](const std::vector<size_t>& shard) {
      auto b = data::make_batch(examples, shard, tok.pad_id());
      const AutocastScope mixed(device, o.autocast_bf16);
      return model.forward(b.input_ids.to(device), b.attention_mask.to(device), {}, b.labels.to(device)).loss;
    }), {}, params);
    if (!std::isfinite(loss))
      throw NumericError("pretraining loss is " + std::to_string(loss) + " at step " + std::to_string(step + 1) +
                         "; lower --lr");
    if (o.clip_norm > 0) {
      const double norm = torch::nn::utils::clip_grad_norm_(params, o.clip_norm);
      if (!std::isfinite(norm))
        throw NumericError("gradient norm is " + std::to_string(norm) + " at step " + std::to_string(step + 1) +
                           "; lower --lr");
    }
    opt.step();
    ++step;
    ++next_batch;
    window_loss += loss;
    ++window;
    if (step % o.log_every == 0 || step == o.steps) {
      result.final_loss = window_loss / static_cast<double>(window);
      result.train_curve.push_back({static_cast<double>(step), result.final_loss});
      ctx.event({{"event", "step"}, {"step", step}, {"epoch", epoch + 1}, {"loss", result.final_loss}, {"lr", lr}});
      window_loss = 0;
      window = 0;
    }
    if (step % o.eval_every == 0 || step == o.steps) {
      evaluate();
      model.train(true);
    }
    char status[96];
    std::snprintf(status, sizeof status, "epoch %lld loss %.3f", static_cast<long long>(epoch + 1), loss);
    ctx.report({"pretrain", step, o.steps, status});
    if (dp.writer() && ck.due(step)) save_state();
  }
  if (ctx.progress) ctx.progress->finish("pretrain");
  result.steps = step;
  result.epochs = (static_cast<double>(epoch) * static_cast<double>(batches.size()) + static_cast<double>(next_batch)) /
                  static_cast<double>(batches.size());
  result.heldout_loss = result.heldout_curve.empty() ? NAN : result.heldout_curve.back()[1];
  result.seconds = seconds_before + timer.seconds();
  model.train(false);
  model.set_backbone_trainable(false);
  ctx.event({{"event", "done"}, {"result", result.to_json()}});
  return result;
}

}  // namespace bipeft::train
