#include "bipeft/baselines/autopeft.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include "bipeft/baselines/bayes_opt.h"
#include "bipeft/core/error.h"
#include "bipeft/core/timer.h"
#include "bipeft/data/splits.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/search/search_data.h"
#include "bipeft/train/schedule.h"

namespace bipeft::baselines {

void AutoPeftOptions::validate() const {
  if (trials < 2) throw OptionError("AutoPeftOptions", "trials", "must be at least 2");
  if (initial < 1 || initial >= trials)
    throw OptionError("AutoPeftOptions", "trials", "must exceed the initial design (" + std::to_string(initial) + ")");
  if (trial_epochs < 1) throw OptionError("AutoPeftOptions", "trial_epochs", "must be at least 1");
}

search::SearchResult autopeft_search(model::T5Model backbone, const text::Tokenizer& tok, const data::TaskData& task,
                                     const search::SpaceOptions& space_options, const search::SearchOptions& o,
                                     const AutoPeftOptions& ao, double budget, const RunContext& ctx) {
  o.validate();
  ao.validate();
  Timer timer;
  auto net = search::build_supernet(backbone, space_options, o.ranks, ctx.seed, budget);
  net.model->detach_();  // only the modules' sizes are needed: each trial builds its own model
  const auto& space = net.space;
  const auto& modules = net.modules;
  const auto& sizes = net.sizes;
  // Encoding: one on/off per module, then one size per ranked method (in order of appearance).
  std::vector<std::string> ranked_methods;
  std::vector<int64_t> size_dim(modules.size(), -1);
  for (size_t i = 0; i < modules.size(); ++i) {
    if (!modules[i]->ranked()) continue;
    auto it = std::find(ranked_methods.begin(), ranked_methods.end(), modules[i]->method());
    if (it == ranked_methods.end()) {
      ranked_methods.push_back(modules[i]->method());
      it = ranked_methods.end() - 1;
    }
    size_dim[i] = static_cast<int64_t>(it - ranked_methods.begin());
  }
  std::vector<int64_t> choices(modules.size(), 2);
  for (size_t k = 0; k < ranked_methods.size(); ++k) choices.push_back(static_cast<int64_t>(o.ranks.size()));
  auto ranks_of = [&](const Config& c) {
    std::vector<int64_t> r(modules.size(), 0);
    for (size_t i = 0; i < modules.size(); ++i)
      if (c[i] == 1)
        r[i] = size_dim[i] < 0 ? 1 : o.ranks[static_cast<size_t>(c[modules.size() + static_cast<size_t>(size_dim[i])])];
    return r;
  };
  auto selection_of = [&](const Config& c) { return search::select_modules(modules, ranks_of(c), space, sizes.shared); };
  auto feasible = [&](const Config& c) {
    const auto s = selection_of(c);
    return !s.structure.modules.empty() && s.params <= budget;
  };
  BayesOptOptions bo;
  bo.initial = ao.initial;
  BayesOpt opt(choices, data::derive_seed(ctx.seed, 0x626f), feasible, bo);

  at::manual_seed(ctx.seed);  // dropout
  const auto halves = search::tokenize_search_halves(tok, task, o.max_train_examples);
  const int64_t steps_per_trial =
      ao.trial_epochs * ((static_cast<int64_t>(halves.train.size()) + o.batch_size - 1) / o.batch_size);
  search::SearchResult result;
  result.budget = budget;
  result.space_params = sizes.whole;
  ctx.event({{"event", "start"}, {"method", "autopeft"}, {"modules", modules.size()}, {"dimensions", choices.size()},
             {"space_params", sizes.whole}, {"budget", budget}, {"trials", ao.trials},
             {"steps_per_trial", steps_per_trial}});

  const dist::DataParallel dp(ctx.comm);  // each process computes its shard of every trial batch
  double best_params = 0;
  int64_t step = 0;
  for (int64_t trial = 0; trial < ao.trials; ++trial) {
    const auto config = opt.propose();
    const auto sel = selection_of(config);
    peft::PeftModel model(backbone, sel.structure, data::derive_seed(ctx.seed, 100 + static_cast<uint64_t>(trial)));
    auto params = model->trainable_parameters();
    torch::optim::AdamW adam(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
    model->train(true);
    double last_loss = 0;
    for (int64_t e = 0; e < ao.trial_epochs; ++e) {
      auto batches = data::epoch_batches(halves.train.size(), o.batch_size, ctx.seed, e, true);
      for (const auto& idx : batches) {
        if (dp.any(ctx.should_stop()))
          throw Interrupted("autopeft search stopped in trial " + std::to_string(trial + 1) + " (no state is kept)");
        adam.zero_grad();
        auto loss = search::batch_loss(dp, *backbone, halves.train, idx, tok.pad_id());
        last_loss = search::checked_loss(dp.backward_(loss, {}, params), "train", step + 1);
        train::clipped_adamw_step(adam, params, o.lr, o.clip_norm);
        ++step;
        char status[96];
        std::snprintf(status, sizeof status, "autopeft trial %lld/%lld loss %.3f", static_cast<long long>(trial + 1),
                      static_cast<long long>(ao.trials), last_loss);
        ctx.report({"search", step, steps_per_trial * ao.trials, status});
      }
    }
    model->train(false);
    double val = 0, count = 0;
    {
      at::NoGradGuard ng;
      auto batches = data::epoch_batches(halves.val.size(), o.batch_size, ctx.seed, 0, false);
      for (const auto& idx : batches) {
        val += search::batch_loss(*backbone, halves.val, idx, tok.pad_id()).item<double>() * static_cast<double>(idx.size());
        count += static_cast<double>(idx.size());
      }
    }
    val /= count;
    if (!std::isfinite(val)) throw NumericError("autopeft: validation loss of trial " + std::to_string(trial + 1) + " is not finite; lower SearchOptions.lr");
    opt.observe(config, -val);
    const bool is_best = opt.best() == trial;
    if (is_best) {
      best_params = sel.params;
      result.structure = sel.structure;
      result.params = sel.params;
    }
    result.curve.push_back({static_cast<double>(trial + 1), sel.params, best_params});
    ctx.event({{"event", "trial"}, {"trial", trial + 1}, {"params", sel.params}, {"modules", sel.structure.modules.size()},
               {"val_loss", val}, {"train_loss", last_loss}, {"best", is_best}, {"initial", trial < ao.initial}});
    model->detach_();
  }
  if (ctx.progress) ctx.progress->finish("search");
  result.steps = step;
  result.completed = true;
  result.seconds = timer.seconds();
  ctx.event({{"event", "done"}, {"method", "autopeft"}, {"result", result.to_json()},
             {"structure", result.structure.to_json()}});
  return result;
}

}  // namespace bipeft::baselines
