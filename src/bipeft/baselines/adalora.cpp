#include "bipeft/baselines/adalora.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>

#include "bipeft/baselines/prune_peft.h"
#include "bipeft/core/autocast.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/core/timer.h"
#include "bipeft/data/splits.h"
#include "bipeft/peft/init.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/search/search_data.h"
#include "bipeft/train/schedule.h"

namespace bipeft::baselines {
namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

}  // namespace

void AdaLoraOptions::validate() const {
  if (!(beta1 >= 0 && beta1 < 1)) throw ConfigError("adalora.beta1 must be in [0, 1), got " + num(beta1));
  if (!(beta2 >= 0 && beta2 < 1)) throw ConfigError("adalora.beta2 must be in [0, 1), got " + num(beta2));
  if (!(orth_reg >= 0) || !std::isfinite(orth_reg))
    throw ConfigError("adalora.orth_reg must be finite and >= 0, got " + num(orth_reg));
  if (delta_t < 1) throw ConfigError("adalora.delta_t must be >= 1, got " + std::to_string(delta_t));
  if (final_steps < 0) throw ConfigError("adalora.final_steps must be >= 0, got " + std::to_string(final_steps));
  if (!(init_std > 0) || !std::isfinite(init_std))
    throw ConfigError("adalora.init_std must be finite and > 0, got " + num(init_std));
}

at::Tensor orthogonality_penalty(const std::vector<at::Tensor>& down, const std::vector<at::Tensor>& up) {
  const AutocastPause float32;  // in the factors' own precision under --autocast bf16 (3 digits would hide it)
  at::Tensor sum;
  int64_t n = 0;
  auto add = [&](const at::Tensor& gram) {
    const auto eye = at::eye(gram.size(0), gram.options());
    auto term = (gram - eye).norm();  // Frobenius; its backward is 0 (not NaN) at an exact zero
    sum = sum.defined() ? sum + term : term;
    ++n;
  };
  for (const auto& a : down) add(at::matmul(a, a.t()));
  for (const auto& b : up) add(at::matmul(b.t(), b));
  if (n == 0) return {};
  return sum / static_cast<double>(n);
}

void ImportanceAverage::update(const at::Tensor& w, const at::Tensor& grad) {
  const auto ipt = (w.detach().to(at::kDouble) * grad.detach().to(at::kDouble)).abs().cpu();
  if (!avg_.defined()) {
    avg_ = at::zeros_like(ipt);
    unc_ = at::zeros_like(ipt);
  }
  avg_ = beta1_ * avg_ + (1.0 - beta1_) * ipt;
  unc_ = beta2_ * unc_ + (1.0 - beta2_) * (ipt - avg_).abs();  // HF: against the updated average
}

at::Tensor ImportanceAverage::score() const {
  if (!avg_.defined()) throw std::logic_error("ImportanceAverage::score before any update");
  return avg_ * unc_;
}

at::Tensor triplet_scores(const at::Tensor& s_lambda, const at::Tensor& s_a, const at::Tensor& s_b) {
  return s_lambda.reshape({-1}) + s_a.mean(1) + s_b.mean(0);
}

std::vector<std::vector<uint8_t>> keep_by_score(const std::vector<std::vector<double>>& scores,
                                                const std::vector<double>& costs, double target) {
  if (costs.size() != scores.size())
    throw ConfigError("keep_by_score: " + std::to_string(costs.size()) + " costs for " +
                      std::to_string(scores.size()) + " modules");
  std::vector<std::tuple<double, size_t, size_t>> order;
  std::vector<std::vector<uint8_t>> keep(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    keep[i].assign(scores[i].size(), 0);
    for (size_t j = 0; j < scores[i].size(); ++j) order.emplace_back(scores[i][j], i, j);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& x, const auto& y) {
    if (std::get<0>(x) != std::get<0>(y)) return std::get<0>(x) > std::get<0>(y);
    return std::make_pair(std::get<1>(x), std::get<2>(x)) < std::make_pair(std::get<1>(y), std::get<2>(y));
  });
  double left = target;
  for (const auto& [s, i, j] : order) {
    if (costs[i] <= left) {
      keep[i][j] = 1;
      left -= costs[i];
    }
  }
  return keep;
}

bool adalora_mask_step(int64_t step, int64_t t_init, int64_t t_end, int64_t delta_t) {
  if (step <= t_init) return false;
  if (step >= t_end) return true;
  return step % delta_t == 0;
}

search::SearchResult adalora_search(model::T5Model backbone, const text::Tokenizer& tok, const data::TaskData& task,
                                    const search::SpaceOptions& space_options, const search::SearchOptions& o,
                                    const AdaLoraOptions& a, double budget, const RunContext& ctx) {
  o.validate();
  a.validate();
  Timer timer;
  auto net = search::build_supernet(backbone, space_options, o.ranks, ctx.seed, budget);
  const auto& modules = net.modules;
  auto& supernet = net.model;
  const size_t N = modules.size();

  // The LoRA modules of the space (AdaLoRA allocates LoRA ranks only); the others stay off.
  std::vector<size_t> lora;
  for (size_t i = 0; i < N; ++i) {
    modules[i]->set_gate(peft::Gate::fixed(0));
    if (modules[i]->method() == "lora" && modules[i]->ranked()) lora.push_back(i);
  }
  if (lora.empty())
    throw ConfigError("adalora allocates LoRA ranks, and the search space '" + space_options.space +
                      "' has no LoRA module; search a space with LoRA (SpaceOptions.space s2, or a list with lora)");
  const size_t L = lora.size();
  std::vector<double> cost(L);
  double lora_whole = 0, cheapest = INFINITY;
  for (size_t k = 0; k < L; ++k) {
    const auto& m = modules[lora[k]];
    cost[k] = static_cast<double>(m->param_count(1));
    lora_whole += static_cast<double>(m->param_count(m->rank_max()));
    cheapest = std::min(cheapest, cost[k]);
  }
  if (budget < cheapest)
    throw ConfigError("the budget of " + num(budget) + " parameters is below one LoRA component (" +
                      num(cheapest) + " parameters), the least adalora can keep; raise SearchRequest.budget");
  const double target_final = std::min(budget, lora_whole);

  // SVD form: A, B ~ N(0, std^2), lambda = 0, trained together.
  auto gen = at::detail::createCPUGenerator(data::derive_seed(ctx.seed, 0x6164616c6f7261));
  std::vector<at::Tensor> A(L), B(L), lambda(L), weights;
  for (size_t k = 0; k < L; ++k) {
    auto& m = modules[lora[k]];
    auto named = m->named_parameters(/*recurse=*/false);
    A[k] = named["A"];
    B[k] = named["B"];
    peft::init_normal_(A[k], a.init_std, gen);
    peft::init_normal_(B[k], a.init_std, gen);
    lambda[k] = at::zeros({m->rank_max()}, A[k].options()).requires_grad_(true);
    peft::Gate g;
    g.rank = m->rank_max();
    g.up = lambda[k];
    m->set_gate(g);
    weights.insert(weights.end(), {A[k], B[k], lambda[k]});
  }
  std::vector<ImportanceAverage> imp_a(L, {a.beta1, a.beta2}), imp_b(L, {a.beta1, a.beta2}),
      imp_l(L, {a.beta1, a.beta2});
  std::vector<std::vector<uint8_t>> keep(L);
  for (size_t k = 0; k < L; ++k) keep[k].assign(static_cast<size_t>(modules[lora[k]]->rank_max()), 1);
  auto kept_size = [&] {
    double s = 0;
    for (size_t k = 0; k < L; ++k)
      for (auto b : keep[k]) s += b ? cost[k] : 0.0;
    return s;
  };
  auto apply_keep = [&] {
    at::NoGradGuard ng;
    for (size_t k = 0; k < L; ++k) {
      auto mask = at::tensor(std::vector<float>(keep[k].begin(), keep[k].end())).to(lambda[k].options());
      lambda[k].mul_(mask);
    }
  };

  // Triplet scores of every LoRA module (zeros before the first importance update).
  auto current_scores = [&] {
    std::vector<std::vector<double>> scores(L);
    for (size_t k = 0; k < L; ++k) {
      if (imp_l[k].empty()) {
        scores[k].assign(keep[k].size(), 0.0);
        continue;
      }
      auto s = triplet_scores(imp_l[k].score(), imp_a[k].score(), imp_b[k].score()).contiguous();
      scores[k].assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
    }
    return scores;
  };

  const dist::DataParallel dp(ctx.comm);
  at::manual_seed(ctx.seed);  // dropout
  const auto halves = search::tokenize_search_halves(tok, task, o.max_train_examples);
  torch::optim::AdamW opt(weights, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  const int64_t steps_per_epoch = (static_cast<int64_t>(halves.train.size()) + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  const int64_t t_init = std::min(o.prune_begin_epoch * steps_per_epoch, total_steps - 1);
  const int64_t t_end = t_init + std::max<int64_t>(1, (total_steps - t_init) / 2);
  const int64_t last = t_end + a.final_steps;
  train::LinearSchedule schedule(total_steps, 0);

  search::SearchResult result;
  result.budget = budget;
  result.space_params = net.sizes.whole;
  ctx.event({{"event", "start"},          {"method", "adalora"},        {"modules", L},
             {"lora_params", lora_whole},  {"space_params", net.sizes.whole}, {"budget", budget},
             {"train_half", halves.train.size()}, {"total_steps", total_steps}, {"t_init", t_init},
             {"t_end", t_end},             {"last_step", last},           {"delta_t", a.delta_t},
             {"orth_reg", a.orth_reg}});
  if (budget >= lora_whole)
    result.warnings.push_back("the budget (" + num(budget) + ") holds every LoRA module of the space at rank " +
                              std::to_string(modules[lora[0]]->rank_max()) + " (" + num(lora_whole) +
                              " parameters): adalora prunes nothing");

  int64_t step = 0;
  bool done = false;
  for (int64_t epoch = 0; epoch < o.epochs && !done; ++epoch) {
    result.epochs_run = epoch + 1;
    auto batches = data::epoch_batches(halves.train.size(), o.batch_size, ctx.seed, epoch, true);
    supernet->train(true);
    for (size_t t = 0; t < batches.size() && !done; ++t) {
      if (dp.any(ctx.should_stop()))
        throw Interrupted("adalora search stopped at step " + std::to_string(step) + " (no state is kept)");
      opt.zero_grad();
      auto loss = search::batch_loss(dp, *backbone, halves.train, batches[t], tok.pad_id());
      at::Tensor orth;  // the term added to the loss (undefined without the regulariser)
      double orth_value = 0;
      if (a.orth_reg > 0) {
        auto penalty = orthogonality_penalty(A, B);
        orth_value = penalty.item<double>();
        orth = penalty * a.orth_reg;
      } else {
        at::NoGradGuard ng;
        orth_value = orthogonality_penalty(A, B).item<double>();
      }
      const double l = search::checked_loss(dp.backward_(loss, orth, weights), "train", step + 1);
      const double lr = o.lr * schedule.factor(step);
      train::clipped_adamw_step(opt, weights, lr, o.clip_norm);
      ++step;
      // Importance from the (clipped) gradients of this step, until the pattern is fixed.
      if (step <= t_end)
        for (size_t k = 0; k < L; ++k) {
          if (!lambda[k].grad().defined()) continue;
          imp_a[k].update(A[k], A[k].grad());
          imp_b[k].update(B[k], B[k].grad());
          imp_l[k].update(lambda[k], lambda[k].grad());
        }
      const double target = cubic_target(lora_whole, target_final, step, t_init, t_end);
      if (adalora_mask_step(step, t_init, t_end, a.delta_t)) {
        if (step <= t_end) {
          const auto before = keep;
          keep = keep_by_score(current_scores(), cost, target);
          nlohmann::json ranks = nlohmann::json::object();
          for (size_t k = 0; k < L; ++k) {
            int64_t n = 0;
            for (auto b : keep[k]) n += b;
            ranks[modules[lora[k]]->id()] = n;
          }
          ctx.event({{"event", "mask"}, {"step", step}, {"target", target}, {"kept_params", kept_size()},
                     {"changed", keep != before}, {"ranks", ranks}});
        }
        apply_keep();
      }
      const double kept = kept_size();
      result.curve.push_back({static_cast<double>(step), target, kept});
      if (step % o.log_every == 0) {
        const nlohmann::json e = {{"event", "step"}, {"step", step}, {"epoch", epoch + 1}, {"loss_train", l},
                            {"lr", lr}, {"target", target}, {"kept_params", kept}, {"orthogonality", orth_value}};
        ctx.event(e);
      }
      char status[96];
      std::snprintf(status, sizeof status, "adalora kept %.0f loss %.3f", kept, l);
      ctx.report({"search", step, std::min(total_steps, last), status});
      done = step >= last;
    }
  }
  if (ctx.progress) ctx.progress->finish("search");
  if (!done) {
    // The schedule did not reach the budget within the epochs: mask once at the budget so the result fits.
    keep = keep_by_score(current_scores(), cost, target_final);
    result.warnings.push_back("the adalora schedule did not finish within SearchOptions.epochs; the last scores were cut to the budget");
  }
  std::vector<int64_t> rank(N, 0);
  for (size_t k = 0; k < L; ++k)
    for (auto b : keep[k]) rank[lora[k]] += b;
  auto chosen = search::select_modules(modules, rank, net.space, net.sizes.shared);
  result.structure = std::move(chosen.structure);
  result.params = chosen.params;
  result.steps = step;
  result.completed = done;
  result.seconds = timer.seconds();
  for (auto& m : supernet->modules) m->set_gate(peft::Gate::full());
  supernet->detach_();
  for (const auto& w : result.warnings) ctx.warn(w);
  ctx.event({{"event", "done"}, {"method", "adalora"}, {"result", result.to_json()},
             {"structure", result.structure.to_json()}});
  return result;
}

}  // namespace bipeft::baselines
