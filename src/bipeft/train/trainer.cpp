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

TrainResult train_model(peft::PeftModelImpl& pm, const text::Tokenizer& tok, const data::TaskData& task,
                        const TrainOptions& o, const RunContext& ctx, const Checkpointing& ck) {
  o.validate();
  auto train_examples = data::first_n(task.train, o.max_train_examples);
  if (train_examples.empty()) throw FormatError(task.name + ": the train split is empty");
  // Data parallelism: each process computes its shard of every global batch (one process: all of it);
  // evaluation is shared out too and every process gets the whole split's scores (so all keep the same
  // best epoch and callers that choose by dev score stay in step); rank 0 alone saves state.
  const dist::DataParallel dp(ctx.comm);
  // Dropout; the one place a run seeds the global generator (each process draws its own masks).
  at::manual_seed(dp.process_seed(ctx.seed));
  auto& backbone = *pm.backbone;
  const auto device = backbone.shared->weight.device();
  const int64_t tgt_len = data::max_target_length(tok, task);
  auto train_tok = data::tokenize_examples(tok, train_examples, task.max_source_length, tgt_len);
  auto dev_tok = data::tokenize_examples(tok, task.dev, task.max_source_length, tgt_len);
  auto test_tok = data::tokenize_examples(tok, task.test, task.max_source_length, tgt_len);

  auto params = pm.trainable_parameters();
  if (params.empty()) throw ConfigError("nothing to train: the structure has no modules");
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  const int64_t steps_per_epoch =
      (static_cast<int64_t>(train_tok.size()) + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  LinearSchedule schedule(total_steps, static_cast<int64_t>(o.warmup_ratio * static_cast<double>(total_steps)));

  ctx.info(describe_trainable(pm.trainable_count(), backbone.num_parameters()));
  ctx.info("training on " + std::to_string(train_tok.size()) + " examples, " + std::to_string(o.epochs) +
           " epochs x " + std::to_string(steps_per_epoch) + " steps, batch " + std::to_string(o.batch_size));
  const nlohmann::json start_event = {{"event", "start"},
             {"task", task.name},
             {"train_examples", train_tok.size()},
             {"dev_examples", dev_tok.size()},
             {"test_examples", test_tok.size()},
             {"total_steps", total_steps},
             {"trainable_params", pm.trainable_count()},
             {"backbone_params", backbone.num_parameters()},
             {"options", o.to_json()}};

  TrainResult result;
  std::vector<torch::Tensor> best;
  double best_value = -INFINITY;
  int64_t step = 0, start_epoch = 0, start_batch = 0;
  double epoch_loss = 0, window_loss = 0;
  int64_t epoch_batches = 0, window = 0;
  double seconds_before = 0;  // train wall time of earlier segments of a resumed run
  double eval_total = 0, eval_segment = 0;
  const bool resumed = ck.resume && io::is_file(ck.path);
  if (resumed) {
    auto st = RunState::load(ck.path, "train");
    const auto& m = st.meta;
    if (m.at("total_steps").get<int64_t>() != total_steps || m.at("trainable").get<int64_t>() != pm.trainable_count())
      throw ConfigError(ck.path + ": the saved run has " + m.at("total_steps").dump() + " steps and " +
                        m.at("trainable").dump() + " trainable parameters, this one " + std::to_string(total_steps) +
                        " and " + std::to_string(pm.trainable_count()) + "; resume with the original options");
    st.restore_params("weights", params);
    st.get_optimizer("optimizer", opt);
    st.restore_default_generators(device);
    if (m.at("has_best").get<bool>()) {
      best = snapshot(params);
      st.copy_list_into("best", best);
    }
    step = m.at("step");
    start_epoch = m.at("epoch");
    start_batch = m.at("batch");
    epoch_loss = m.at("epoch_loss");
    window_loss = m.at("window_loss");
    epoch_batches = m.at("epoch_batches");
    window = m.at("window");
    best_value = m.at("best_value").is_null() ? -INFINITY : m.at("best_value").get<double>();
    result.best_epoch = m.at("best_epoch");
    for (const auto& kv : m.at("best_dev_metrics")) result.best_dev.metrics.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<double>());
    result.history = m.at("history").get<std::vector<nlohmann::json>>();
    result.final_loss = m.at("final_loss");
    seconds_before = m.at("train_seconds");
    eval_total = m.at("eval_seconds");
    ctx.info("resumed from " + ck.path + " at step " + std::to_string(step) + " of " + std::to_string(total_steps));
    ctx.event({{"event", "resume"}, {"step", step}});
  } else {
    ctx.event(start_event);
  }
  dp.broadcast_from_writer_(params);  // every process starts from rank 0's weights
  Timer train_timer;
  // Everything the loop needs to continue after (epoch, next batch), written atomically.
  auto save_state = [&](int64_t epoch, int64_t next_batch) {
    ctx.event({{"event", "checkpoint"}, {"step", step}});
    RunState st("train");
    st.meta = {{"step", step},
               {"epoch", epoch},
               {"batch", next_batch},
               {"total_steps", total_steps},
               {"trainable", pm.trainable_count()},
               {"epoch_loss", epoch_loss},
               {"window_loss", window_loss},
               {"epoch_batches", epoch_batches},
               {"window", window},
               {"has_best", !best.empty()},
               {"best_value", std::isfinite(best_value) ? nlohmann::json(best_value) : nlohmann::json()},
               {"best_epoch", result.best_epoch},
               {"best_dev_metrics", result.best_dev.metrics},
               {"history", result.history},
               {"final_loss", result.final_loss},
               {"train_seconds", seconds_before + train_timer.seconds() - eval_segment},
               {"eval_seconds", eval_total}};
    st.put_params("weights", params);
    if (!best.empty()) st.put_list("best", best);
    st.put_optimizer("optimizer", opt);
    st.put_default_generators(device);
    st.save(ck.path);
  };
  auto stop_here = [&](int64_t epoch, int64_t next_batch) {
    if (!dp.writer()) return Interrupted("stopped at step " + std::to_string(step) + " (rank 0 keeps the state)");
    if (!ck.enabled()) return Interrupted("stopped at step " + std::to_string(step) + " (no checkpoint kept)");
    save_state(epoch, next_batch);
    return Interrupted("stopped at step " + std::to_string(step) + "; state saved in " + ck.path);
  };
  for (int64_t epoch = start_epoch; epoch < o.epochs; ++epoch) {
    pm.train(true);
    const bool continuing = resumed && epoch == start_epoch;
    if (!continuing) {
      epoch_loss = window_loss = 0;
      epoch_batches = window = 0;
    }
    const auto batches = data::epoch_batches(train_tok.size(), o.batch_size, ctx.seed, epoch, /*shuffle=*/true);
    for (size_t b = continuing ? static_cast<size_t>(start_batch) : 0; b < batches.size(); ++b) {
      if (dp.any(ctx.should_stop())) throw stop_here(epoch, static_cast<int64_t>(b));
      const auto& idx = batches[b];
      const double lr = o.lr * schedule.factor(step);
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      opt.zero_grad();
      // This process's shard of the batch; the gradients and loss of the whole batch on every process.
      const double loss = dp.backward_(dp.shard_loss(train_tok, idx, [&](const std::vector<size_t>& rows) {
        return objective_loss(o.objective, backbone, data::make_batch(train_tok, rows, tok.pad_id()));
      }), {}, params);
      if (!std::isfinite(loss))
        throw NumericError("loss is " + std::to_string(loss) + " at step " + std::to_string(step + 1) + " (epoch " +
                           std::to_string(epoch + 1) + "); lower --lr or check the data");
      if (o.clip_norm > 0) {
        const double norm = torch::nn::utils::clip_grad_norm_(params, o.clip_norm);
        if (!std::isfinite(norm))
          throw NumericError("gradient norm is " + std::to_string(norm) + " at step " + std::to_string(step + 1) +
                             "; lower --lr or check the data");
      }
      opt.step();
      ++step;
      epoch_loss += loss;
      window_loss += loss;
      ++epoch_batches;
      ++window;
      if (step % o.log_every == 0 || step == total_steps) {
        ctx.event({{"event", "step"}, {"step", step}, {"epoch", epoch + 1}, {"loss", window_loss / window}, {"lr", lr}});
        window_loss = 0;
        window = 0;
      }
      char status[96];
      std::snprintf(status, sizeof status, "epoch %lld/%lld loss %.4f", static_cast<long long>(epoch + 1),
                    static_cast<long long>(o.epochs), epoch_loss / static_cast<double>(epoch_batches));
      ctx.report({"train", step, total_steps, status});
      if (dp.writer() && ck.due(step)) save_state(epoch, static_cast<int64_t>(b) + 1);
    }
    result.final_loss = epoch_loss / static_cast<double>(std::max<int64_t>(1, epoch_batches));
    const bool last = epoch + 1 == o.epochs;
    if (!dev_tok.empty() && ((epoch + 1) % o.eval_every == 0 || last)) {
      eval::EvalOptions eo;
      eo.batch_size = o.eval_batch_size;
      eo.label = "eval dev";
      eval::EvalResult dev;
      try {
        dev = eval::evaluate(backbone, tok, task, task.dev, dev_tok, eo, ctx);
      } catch (const Interrupted&) {
        throw stop_here(epoch, static_cast<int64_t>(batches.size()));
      }
      eval_total += dev.seconds;
      eval_segment += dev.seconds;
      nlohmann::json entry = {{"event", "eval"}, {"split", "dev"}, {"epoch", epoch + 1}, {"step", step},
                              {"metrics", dev.to_json()}, {"train_loss", result.final_loss}};
      ctx.event(entry);
      result.history.push_back(entry);
      ctx.info("epoch " + std::to_string(epoch + 1) + ": train loss " + std::to_string(result.final_loss) + ", dev " +
               dev.to_json().dump());
      if (dev.primary() > best_value || best.empty()) {
        best_value = dev.primary();
        best = snapshot(params);
        result.best_epoch = epoch + 1;
        result.best_dev = dev;
      }
    }
  }
  result.steps = step;
  result.train_seconds = seconds_before + train_timer.seconds() - eval_segment;
  if (ctx.progress) ctx.progress->finish("train");
  if (!best.empty()) restore_(params, best);
  if (o.eval_test && !test_tok.empty()) {
    eval::EvalOptions eo;
    eo.batch_size = o.eval_batch_size;
    eo.label = "eval test";
    result.test = eval::evaluate(backbone, tok, task, task.test, test_tok, eo, ctx);
    eval_total += result.test.seconds;
    ctx.event({{"event", "eval"}, {"split", "test"}, {"epoch", result.best_epoch}, {"metrics", result.test.to_json()}});
  }
  result.eval_seconds = eval_total;
  pm.train(false);
  ctx.event({{"event", "done"}, {"steps", step}, {"best_epoch", result.best_epoch}, {"dev", result.best_dev.to_json()},
             {"test", result.test.to_json()}, {"train_seconds", result.train_seconds}, {"eval_seconds", eval_total}});
  return result;
}

}  // namespace bipeft::train
