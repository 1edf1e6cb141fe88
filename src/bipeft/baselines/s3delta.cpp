#include "bipeft/baselines/s3delta.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include "bipeft/core/error.h"
#include "bipeft/core/timer.h"
#include "bipeft/data/splits.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/search/search_data.h"
#include "bipeft/train/schedule.h"

namespace bipeft::baselines {

void S3DeltaOptions::validate() const {
  if (!(alpha_lr > 0 && std::isfinite(alpha_lr))) throw OptionError("S3DeltaOptions", "alpha_lr", "must be a positive number");
  if (!(shift_temperature > 0) || !(concrete_temperature > 0))
    throw ConfigError("S3Delta temperatures must be positive");
  if (!(alpha_init_std >= 0)) throw ConfigError("S3Delta alpha init std must be >= 0");
}

double solve_shift(const std::vector<double>& alpha, const std::vector<double>& sizes, double budget, double t) {
  const double total = std::accumulate(sizes.begin(), sizes.end(), 0.0);
  if (!(budget > 0 && budget < total))
    throw ConfigError("S3Delta shift: the budget " + std::to_string(budget) + " must be in (0, " +
                      std::to_string(total) + ")");
  auto mass = [&](double b) {
    double s = 0;
    for (size_t i = 0; i < alpha.size(); ++i) s += sizes[i] / (1.0 + std::exp(-(alpha[i] - b) / t));
    return s;
  };
  // mass() falls from ~total to ~0 as b grows; widen the bracket until it holds the budget.
  const auto [lo_it, hi_it] = std::minmax_element(alpha.begin(), alpha.end());
  double lo = *lo_it - t, hi = *hi_it + t;
  while (mass(lo) < budget) lo -= (hi - lo);
  while (mass(hi) > budget) hi += (hi - lo);
  for (int it = 0; it < 200 && hi - lo > 1e-12 * std::max(1.0, std::abs(lo)); ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mass(mid) > budget) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

std::vector<size_t> greedy_by_probability(const std::vector<double>& p, const std::vector<double>& sizes,
                                          double budget) {
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  std::vector<size_t> kept;
  double used = 0;
  for (size_t i : order)
    if (used + sizes[i] <= budget) {
      kept.push_back(i);
      used += sizes[i];
    }
  std::sort(kept.begin(), kept.end());
  return kept;
}

search::SearchResult s3delta_search(model::T5Model backbone, const text::Tokenizer& tok, const data::TaskData& task,
                                    const search::SpaceOptions& space_options, const search::SearchOptions& o,
                                    const S3DeltaOptions& s3, double budget, const RunContext& ctx) {
  o.validate();
  s3.validate();
  Timer timer;
  const int64_t rank = o.ranks.front();
  auto net = search::build_supernet(backbone, space_options, {rank}, ctx.seed, budget);
  const auto& space = net.space;
  const auto& modules = net.modules;
  const auto& space_size = net.sizes;
  auto& supernet = net.model;
  const double module_budget = budget - space_size.shared;
  std::vector<double> n(modules.size());
  for (size_t i = 0; i < modules.size(); ++i) n[i] = static_cast<double>(modules[i]->param_count(modules[i]->rank_max()));
  auto n_t = at::tensor(n, at::kDouble);

  auto gen = at::detail::createCPUGenerator(data::derive_seed(ctx.seed, 7));
  auto alpha = at::empty({static_cast<int64_t>(modules.size())}, at::kFloat);
  alpha.normal_(0.0, s3.alpha_init_std, gen);
  alpha.set_requires_grad(true);
  const dist::DataParallel dp(ctx.comm);  // each process computes its shard of every batch
  at::manual_seed(ctx.seed);  // dropout
  const auto halves = search::tokenize_search_halves(tok, task, o.max_train_examples);
  auto weights = supernet->trainable_parameters();
  torch::optim::AdamW opt_w(weights, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  torch::optim::Adam opt_a({alpha}, torch::optim::AdamOptions(s3.alpha_lr).betas({o.arch_beta1, o.arch_beta2}));
  const int64_t steps_per_epoch = (static_cast<int64_t>(halves.train.size()) + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  train::LinearSchedule schedule(total_steps, 0);

  search::SearchResult result;
  result.budget = budget;
  result.space_params = space_size.whole;
  ctx.event({{"event", "start"},
             {"method", "s3delta"},
             {"modules", modules.size()},
             {"rank", rank},
             {"space_params", space_size.whole},
             {"budget", budget},
             {"train_half", halves.train.size()},
             {"val_half", halves.val.size()},
             {"total_steps", total_steps}});

  // p = sigmoid((alpha - b) / T_s) rescaled so that sum p n = B' (b and the sum detached), kept in (0, 1).
  auto probabilities = [&](const at::Tensor& a) {
    std::vector<double> av(a.size(0));
    auto ad = a.detach().to(at::kDouble).contiguous();
    std::copy(ad.data_ptr<double>(), ad.data_ptr<double>() + av.size(), av.begin());
    const double b = solve_shift(av, n, module_budget, s3.shift_temperature);
    auto p = at::sigmoid((a.to(at::kDouble) - b) / s3.shift_temperature);
    p = p * (module_budget / (p.detach() * n_t).sum());
    return p.clamp(1e-6, 1.0 - 1e-6);
  };
  auto set_gates = [&](const at::Tensor& p) {
    auto u = at::rand({p.size(0)}, gen, at::kDouble).clamp(1e-6, 1.0 - 1e-6);
    auto g = at::sigmoid((at::log(u) - at::log1p(-u) + at::log(p) - at::log1p(-p)) / s3.concrete_temperature)
                 .to(at::kFloat);
    for (size_t i = 0; i < modules.size(); ++i) {
      auto gi = g.select(0, static_cast<int64_t>(i));
      peft::Gate gate;
      if (modules[i]->ranked()) {
        gate.rank = modules[i]->rank_max();
        gate.mask = gi.expand({gate.rank});
      } else {
        gate.rank = 1;
      }
      gate.on = gi;
      modules[i]->set_gate(gate);
    }
  };
  auto as_vector = [](const at::Tensor& t) {
    auto c = t.detach().to(at::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };

  int64_t step = 0;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    result.epochs_run = epoch + 1;
    auto w_batches = data::epoch_batches(halves.train.size(), o.batch_size, ctx.seed, epoch, true);
    auto a_batches = data::epoch_batches(halves.val.size(), o.batch_size, data::derive_seed(ctx.seed, 1000), epoch, true);
    supernet->train(true);
    for (size_t t = 0; t < w_batches.size(); ++t) {
      if (dp.any(ctx.should_stop())) throw Interrupted("s3delta search stopped at step " + std::to_string(step) + " (no state is kept)");
      // 1. Alpha step on a validation-half batch.
      opt_a.zero_grad();
      opt_w.zero_grad();
      set_gates(probabilities(alpha));
      auto loss_a = search::batch_loss(dp, *backbone, halves.val, a_batches[t % a_batches.size()], tok.pad_id());
      const double la = search::checked_loss(dp.backward_(loss_a, {}, {alpha}), "validation", step + 1);
      opt_a.step();
      // 2. Weight step on a train-half batch with freshly sampled gates (no alpha gradient).
      opt_w.zero_grad();
      {
        at::NoGradGuard ng;
        auto p = probabilities(alpha);
        set_gates(p);
      }
      auto loss_w = search::batch_loss(dp, *backbone, halves.train, w_batches[t], tok.pad_id());
      const double lw = search::checked_loss(dp.backward_(loss_w, {}, weights), "train", step + 1);
      const double lr = o.lr * schedule.factor(step);
      train::clipped_adamw_step(opt_w, weights, lr, o.clip_norm);
      ++step;
      at::NoGradGuard ng;
      const auto p = as_vector(probabilities(alpha));
      double expected = space_size.shared, kept = space_size.shared;
      for (size_t i = 0; i < p.size(); ++i) expected += p[i] * n[i];
      for (size_t i : greedy_by_probability(p, n, module_budget)) kept += n[i];
      result.curve.push_back({static_cast<double>(step), expected, kept});
      if (step % o.log_every == 0)
        ctx.event({{"event", "step"}, {"step", step}, {"epoch", epoch + 1}, {"loss_val", la}, {"loss_train", lw},
                   {"lr", lr}, {"expected", expected}, {"kept_params", kept}});
      char status[96];
      std::snprintf(status, sizeof status, "s3delta kept %.0f loss %.3f", kept, lw);
      ctx.report({"search", step, total_steps, status});
    }
  }
  if (ctx.progress) ctx.progress->finish("search");
  std::vector<int64_t> ranks(modules.size(), 0);
  {
    at::NoGradGuard ng;
    const auto p = as_vector(probabilities(alpha));
    for (size_t i : greedy_by_probability(p, n, module_budget)) ranks[i] = modules[i]->ranked() ? rank : 1;
  }
  auto chosen = search::select_modules(modules, ranks, space, space_size.shared);
  result.structure = std::move(chosen.structure);
  result.params = chosen.params;
  result.steps = step;
  result.completed = true;
  result.seconds = timer.seconds();
  for (auto& m : supernet->modules) m->set_gate(peft::Gate::full());
  supernet->detach_();
  ctx.event({{"event", "done"}, {"method", "s3delta"}, {"result", result.to_json()},
             {"structure", result.structure.to_json()}});
  return result;
}

}  // namespace bipeft::baselines
