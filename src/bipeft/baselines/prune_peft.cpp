#include "bipeft/baselines/prune_peft.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include "bipeft/core/error.h"
#include "bipeft/core/timer.h"
#include "bipeft/data/splits.h"
#include "bipeft/peft/methods.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/search/search_data.h"
#include "bipeft/train/schedule.h"

namespace bipeft::baselines {

double cubic_target(double whole, double budget, int64_t step, int64_t begin, int64_t end) {
  if (step <= begin) return whole;
  if (step >= end || end <= begin) return budget;
  const double f = 1.0 - static_cast<double>(step - begin) / static_cast<double>(end - begin);
  return budget + (whole - budget) * f * f * f;
}

search::SearchResult prune_peft_search(model::T5Model backbone, const text::Tokenizer& tok, const data::TaskData& task,
                                       const search::SpaceOptions& space_options, const search::SearchOptions& o,
                                       double budget, const RunContext& ctx) {
  o.validate();
  Timer timer;
  auto net = search::build_supernet(backbone, space_options, o.ranks, ctx.seed, budget);
  const auto& space = net.space;
  const auto& modules = net.modules;
  const auto& space_size = net.sizes;
  auto& supernet = net.model;
  const size_t N = modules.size();

  // Per module: current rank (0 = removed), its importance EMA per unit, the gate leaf.
  std::vector<int64_t> rank(N);
  std::vector<std::vector<double>> importance(N);
  for (size_t i = 0; i < N; ++i) {
    rank[i] = modules[i]->ranked() ? modules[i]->rank_max() : 1;
    importance[i].assign(static_cast<size_t>(rank[i]), 0.0);
  }
  // Which modules also count the shared parameters (looked up once: kept_size runs every step).
  std::vector<bool> uses_shared(N);
  for (size_t i = 0; i < N; ++i) uses_shared[i] = peft::uses_shared_params(modules[i]->method());
  auto kept_size = [&] {
    double s = 0;
    bool shared = false;
    for (size_t i = 0; i < N; ++i)
      if (rank[i] > 0) {
        s += static_cast<double>(modules[i]->param_count(rank[i]));
        shared = shared || uses_shared[i];
      }
    return s + (shared ? space_size.shared : 0.0);
  };
  // The next smaller size of module i: the largest candidate rank below its rank, or 0.
  auto next_rank = [&](size_t i) -> int64_t {
    if (!modules[i]->ranked()) return 0;
    int64_t best = 0;
    for (int64_t r : o.ranks)
      if (r < rank[i]) best = std::max(best, r);
    return best;
  };

  const dist::DataParallel dp(ctx.comm);  // each process computes its shard of every batch
  at::manual_seed(ctx.seed);  // dropout
  const auto halves = search::tokenize_search_halves(tok, task, o.max_train_examples);
  auto weights = supernet->trainable_parameters();
  torch::optim::AdamW opt(weights, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  const int64_t steps_per_epoch = (static_cast<int64_t>(halves.train.size()) + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  const int64_t begin = std::min(o.prune_begin_epoch * steps_per_epoch, total_steps - 1);
  const int64_t end = begin + std::max<int64_t>(1, (total_steps - begin) / 2);
  train::LinearSchedule schedule(total_steps, 0);

  search::SearchResult result;
  result.budget = budget;
  result.space_params = space_size.whole;
  ctx.event({{"event", "start"},       {"method", "prunepeft"},  {"modules", N},
             {"space_params", space_size.whole}, {"budget", budget}, {"train_half", halves.train.size()},
             {"total_steps", total_steps}, {"prune_begin", begin}, {"prune_end", end}});

  int64_t step = 0;
  bool done = false;
  for (int64_t epoch = 0; epoch < o.epochs && !done; ++epoch) {
    result.epochs_run = epoch + 1;
    auto batches = data::epoch_batches(halves.train.size(), o.batch_size, ctx.seed, epoch, true);
    supernet->train(true);
    for (size_t t = 0; t < batches.size() && !done; ++t) {
      if (dp.any(ctx.should_stop()))
        throw Interrupted("prunepeft search stopped at step " + std::to_string(step) + " (no state is kept)");
      // Gates of value 1 whose gradients are the Taylor importances.
      std::vector<at::Tensor> leaves(N);
      for (size_t i = 0; i < N; ++i) {
        peft::Gate g;
        g.rank = rank[i];
        if (rank[i] > 0) {
          leaves[i] = at::ones({modules[i]->ranked() ? rank[i] : 1}).requires_grad_(true);
          if (modules[i]->ranked()) g.mask = leaves[i];
          else g.on = leaves[i].select(0, 0);
        }
        modules[i]->set_gate(g);
      }
      opt.zero_grad();
      // The gates' gradients (the importances) are summed over processes with the weights'.
      auto summed = weights;
      for (const auto& leaf : leaves)
        if (leaf.defined()) summed.push_back(leaf);
      auto loss = search::batch_loss(dp, *backbone, halves.train, batches[t], tok.pad_id());
      const double l = search::checked_loss(dp.backward_(loss, {}, summed), "train", step + 1);
      const double lr = o.lr * schedule.factor(step);
      train::clipped_adamw_step(opt, weights, lr, o.clip_norm);
      ++step;
      for (size_t i = 0; i < N; ++i) {
        if (rank[i] == 0 || !leaves[i].grad().defined()) continue;
        auto gr = leaves[i].grad().abs().to(at::kDouble).contiguous();
        for (int64_t j = 0; j < gr.numel(); ++j)
          importance[i][j] = o.ema * importance[i][j] + (1.0 - o.ema) * gr.data_ptr<double>()[j];
      }
      // Prune down to the schedule: cheapest importance per removed parameter first.
      const double target = cubic_target(space_size.whole, budget, step, begin, end);
      nlohmann::json pruned = nlohmann::json::array();
      while (kept_size() > target) {
        size_t best = N;
        double best_cost = INFINITY;
        int64_t best_to = 0;
        for (size_t i = 0; i < N; ++i) {
          if (rank[i] == 0) continue;
          const int64_t to = next_rank(i);
          const double saved = static_cast<double>(modules[i]->param_count(rank[i]) - modules[i]->param_count(to));
          if (saved <= 0) continue;
          double lost = 0;
          for (int64_t j = to; j < rank[i]; ++j) lost += importance[i][static_cast<size_t>(j)];
          const double cost = lost / saved;
          if (cost < best_cost) {
            best_cost = cost;
            best = i;
            best_to = to;
          }
        }
        if (best == N) break;
        pruned.push_back({{"id", modules[best]->id()}, {"from", rank[best]}, {"to", best_to}});
        rank[best] = best_to;
        importance[best].resize(static_cast<size_t>(best_to));
      }
      const double kept = kept_size();
      result.curve.push_back({static_cast<double>(step), target, kept});
      if (!pruned.empty()) ctx.event({{"event", "prune"}, {"step", step}, {"pruned", pruned}, {"kept_params", kept}});
      if (step % o.log_every == 0)
        ctx.event({{"event", "step"}, {"step", step}, {"epoch", epoch + 1}, {"loss_train", l}, {"lr", lr},
                   {"target", target}, {"kept_params", kept}});
      char status[96];
      std::snprintf(status, sizeof status, "prunepeft kept %.0f loss %.3f", kept, l);
      ctx.report({"search", step, total_steps, status});
      done = step >= end && kept <= budget;
    }
  }
  if (ctx.progress) ctx.progress->finish("search");
  auto chosen = search::select_modules(modules, rank, space, space_size.shared);
  result.structure = std::move(chosen.structure);
  result.params = chosen.params;
  result.steps = step;
  result.completed = done;
  if (!done) result.warnings.push_back("the pruning schedule did not finish within SearchOptions.epochs");
  result.seconds = timer.seconds();
  for (auto& m : supernet->modules) m->set_gate(peft::Gate::full());
  supernet->detach_();
  for (const auto& w : result.warnings) ctx.warn(w);
  ctx.event({{"event", "done"}, {"method", "prunepeft"}, {"result", result.to_json()},
             {"structure", result.structure.to_json()}});
  return result;
}

}  // namespace bipeft::baselines
