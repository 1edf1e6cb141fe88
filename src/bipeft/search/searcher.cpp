#include "bipeft/search/searcher.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include "bipeft/core/error.h"
#include "bipeft/core/timer.h"
#include "bipeft/io/file_util.h"
#include "bipeft/data/collate.h"
#include "bipeft/data/splits.h"
#include "bipeft/dist/data_parallel.h"
#include "bipeft/peft/methods.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/search/architecture.h"
#include "bipeft/search/search_data.h"
#include "bipeft/search/selection.h"
#include "bipeft/search/sensitivity.h"
#include "bipeft/train/schedule.h"

namespace bipeft::search {

nlohmann::json SearchResult::to_json() const {
  return {{"params", params},       {"budget", budget},     {"space_params", space_params},
          {"triggers", triggers},   {"steps", steps},       {"epochs_run", epochs_run},
          {"completed", completed}, {"repaired", repaired}, {"filled", filled}, {"seconds", seconds},
          {"modules", structure.modules.size()},            {"warnings", warnings}};
}

namespace {

// Dimension values (Eq. 10) of a beta snapshot: 0 for removed, the fixed value for fixed modules.
std::vector<double> values_of(const Architecture& arch, const at::Tensor& snapshot) {
  std::vector<double> v;
  auto idx = snapshot.argmax(-1).contiguous();
  for (const auto& m : arch.modules) {
    if (!m.ranked) continue;
    if (m.removed) v.push_back(0.0);
    else if (m.fixed) v.push_back(static_cast<double>(arch.candidates[m.fixed_index]));
    else v.push_back(static_cast<double>(arch.candidates[idx.data_ptr<int64_t>()[m.beta_row]]));
  }
  return v;
}

// The architecture stage of the next step (iterative space): the paper alternates alpha and beta steps;
// the Table 2 ablations search one of them until half the triggers fired, then the other.
Architecture::Stage next_stage(Architecture::Stage current, const SearchOptions& o, int64_t triggers) {
  using Stage = Architecture::Stage;
  const bool first_half = 2 * triggers < o.max_triggers;
  if (o.stage_order == "binary-then-dim") return first_half ? Stage::Binary : Stage::Dimension;
  if (o.stage_order == "dim-then-binary") return first_half ? Stage::Dimension : Stage::Binary;
  return current == Stage::Binary ? Stage::Dimension : Stage::Binary;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f", v);
  return b;
}

}  // namespace

SearchResult run_search(model::T5Model backbone, const text::Tokenizer& tok, const data::TaskData& task,
                        const SpaceOptions& space_options, const SearchOptions& o, double budget,
                        const RunContext& ctx, const train::Checkpointing& ck) {
  o.validate();
  Timer timer;
  auto net = build_supernet(backbone, space_options, o.ranks, ctx.seed, budget);
  const auto& space = net.space;
  auto& supernet = net.model;
  const auto& sizes_of_space = net.sizes;
  const auto device = backbone->shared->weight.device();

  auto gen = at::detail::createCPUGenerator(data::derive_seed(ctx.seed, 7));
  Architecture arch(net.modules, o.architecture(), gen);
  SearchResult result;
  result.budget = budget;
  result.space_params = sizes_of_space.whole;
  const double shared_params = sizes_of_space.shared, whole = sizes_of_space.whole;
  const double module_budget = budget - shared_params;

  // Data parallelism: each process computes its shard of every global batch (one process: all of it).
  const dist::DataParallel dp(ctx.comm);
  at::manual_seed(dp.process_seed(ctx.seed));  // dropout
  const auto halves = tokenize_search_halves(tok, task, o.max_train_examples);
  const auto& w_tok = halves.train;
  const auto& a_tok = halves.val;

  auto weights = supernet->trainable_parameters();
  torch::optim::AdamW opt_w(weights, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  std::vector<torch::Tensor> arch_params{arch.alpha};
  if (arch.beta.numel() > 0) arch_params.push_back(arch.beta);
  torch::optim::Adam opt_a(arch_params, torch::optim::AdamOptions(o.arch_lr)
                                            .betas({o.arch_beta1, o.arch_beta2})
                                            .weight_decay(o.arch_weight_decay));
  const int64_t steps_per_epoch = (static_cast<int64_t>(w_tok.size()) + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  train::LinearSchedule schedule(total_steps, 0);

  std::vector<double> sizes(arch.modules.size());
  for (size_t i = 0; i < sizes.size(); ++i) sizes[i] = arch.modules[i].full;
  std::vector<bool> prunable(arch.modules.size(), true);
  std::vector<int64_t> beta_choice(arch.modules.size(), -1);  // argmax beta when each rank was fixed
  TriggerDetector detector(o.window, o.threshold);
  SensitivityTracker tracker(arch.modules.size(),
                             SensitivityOptions{o.ema, o.criterion, o.abs_grad});
  std::vector<at::Tensor> history;  // beta snapshots since the last trigger (rank_window 0) or the last rank_window
  int64_t k_rem = o.max_triggers;
  int64_t last_trigger_step = -1;  // weight step of the last trigger (-1: none yet)
  auto stage = o.stage_order == "dim-then-binary" ? Architecture::Stage::Dimension : Architecture::Stage::Binary;
  const bool has_ranked = arch.beta.numel() > 0;
  const auto rank_draw = o.rank_training == "uniform" ? Architecture::RankDraw::Uniform
                         : o.rank_training == "beta"  ? Architecture::RankDraw::Beta
                                                      : Architecture::RankDraw::Argmax;

  ctx.info("search space " + space_options.space + ": " + std::to_string(arch.modules.size()) + " modules, " + fmt(whole) +
           " parameters at rank " + std::to_string(o.ranks.back()) + "; budget " + fmt(budget));
  const nlohmann::json start_event = {
      {"event", "start"},          {"modules", arch.modules.size()}, {"space_params", whole},
      {"budget", budget},          {"shared_params", shared_params}, {"train_half", w_tok.size()},
      {"val_half", a_tok.size()},  {"total_steps", total_steps},     {"options", o.to_json()}};

  auto removed_flags = [&] {
    std::vector<bool> r(arch.modules.size());
    for (size_t i = 0; i < r.size(); ++i) r[i] = arch.modules[i].removed;
    return r;
  };
  // This process's part of the loss of the global batch `idx` (undefined when its shard is empty).
  auto forward_loss = [&](const std::vector<data::TokenizedExample>& all, const std::vector<size_t>& idx) {
    return dp.shard_loss(all, idx, [&](const std::vector<size_t>& rows) {
      return train::objective_loss(o.objective, *backbone, data::make_batch(all, rows, tok.pad_id()));
    });
  };
  std::vector<torch::Tensor> all_params = weights;
  all_params.insert(all_params.end(), arch_params.begin(), arch_params.end());
  // Every process holds rank 0's decisions: removed modules and fixed ranks (all processes compute
  // them from the same summed statistics; rank 0's copy is the one kept).
  auto adopt_writer_structure = [&] {
    if (!dp.active()) return;
    auto state = at::empty({static_cast<int64_t>(arch.modules.size()), 3}, at::kLong);
    auto* p = state.data_ptr<int64_t>();
    for (const auto& m : arch.modules) {
      *p++ = m.removed;
      *p++ = m.fixed;
      *p++ = static_cast<int64_t>(m.fixed_index);
    }
    dp.broadcast_from_writer_({state});
    p = state.data_ptr<int64_t>();
    for (auto& m : arch.modules) {
      m.removed = *p++ != 0;
      m.fixed = *p++ != 0;
      m.fixed_index = static_cast<decltype(m.fixed_index)>(*p++);
    }
  };

  // Fixes every module in `free` (ranked, kept, unfixed) and returns what it fixed for the trace. With
  // the budget fill (ours) the ranks start at argmax beta and the most sensitive modules grow while the
  // whole kept structure stays within the budget (at the final fix, argmax ranks over the budget are
  // first lowered: final_fix); otherwise each is fixed at argmax beta.
  auto fix_all = [&](const std::vector<size_t>& free, bool final_fix) {
    const bool fill = o.budget_fill && o.early_selection && arch.iterative;
    std::vector<int64_t> chosen(free.size());
    for (size_t k = 0; k < free.size(); ++k) chosen[k] = arch.chosen_index(free[k], o.rank_energy);
    const auto argmax = chosen;
    if (fill && !free.empty()) {
      double others = shared_params + arch.kept_params();  // everything kept but the free modules
      std::vector<std::vector<double>> counts;
      std::vector<double> s;
      for (size_t i : free) {
        others -= arch.current_params(i);
        counts.push_back(arch.modules[i].counts);
        s.push_back(tracker.smoothed()[i]);
      }
      chosen = fill_ranks_to_budget(counts, chosen, s, budget - others, /*may_lower=*/final_fix);
    }
    nlohmann::json out = nlohmann::json::array();
    for (size_t k = 0; k < free.size(); ++k) {
      beta_choice[free[k]] = argmax[k];
      arch.fix_dimension_(free[k], chosen[k]);
      nlohmann::json f = {{"id", arch.modules[free[k]].module->id()}, {"rank", arch.candidates[chosen[k]]}};
      if (chosen[k] != argmax[k]) {
        f["argmax_rank"] = arch.candidates[argmax[k]];
        result.filled += chosen[k] - argmax[k];
      }
      out.push_back(std::move(f));
    }
    return out;
  };

  // --ablation-rows (ours): per kept module, the loss increase on the first rows of the validation half
  // when it alone is switched off (the others kept), per parameter; -inf for removed
  // modules. Dropout is off while it measures; every process computes the same numbers.
  const int64_t ablation_n = std::min<int64_t>(o.ablation_rows, static_cast<int64_t>(a_tok.size()));
  auto ablation_scores = [&] {
    at::NoGradGuard ng;
    const bool was_training = supernet->is_training();
    supernet->train(false);
    // Each kept module at its fixed rank, or at the largest while beta still chooses (with the rank
    // draws of the weight steps every component has trained; argmax beta would be close to a coin flip).
    for (size_t i = 0; i < arch.modules.size(); ++i) {
      const auto& m = arch.modules[i];
      const int64_t r = m.removed ? 0 : !m.ranked ? 1 : m.fixed ? arch.candidates[m.fixed_index] : arch.candidates.back();
      m.module->set_gate(peft::Gate::fixed(r));
    }
    auto eval_loss = [&] {
      double sum = 0;
      for (int64_t b = 0; b < ablation_n; b += o.batch_size) {
        std::vector<size_t> rows;
        for (int64_t r = b; r < std::min(ablation_n, b + o.batch_size); ++r) rows.push_back(static_cast<size_t>(r));
        sum += train::objective_loss(o.objective, *backbone, data::make_batch(a_tok, rows, tok.pad_id())).item<double>() *
               static_cast<double>(rows.size());
      }
      return sum / static_cast<double>(std::max<int64_t>(1, ablation_n));
    };
    const double base = eval_loss();
    std::vector<double> out(arch.modules.size(), -std::numeric_limits<double>::infinity());
    for (size_t i = 0; i < arch.modules.size(); ++i) {
      auto& m = arch.modules[i];
      if (m.removed) continue;
      const auto kept_gate = m.module->gate();
      m.module->set_gate(peft::Gate::fixed(0));
      const double n = m.ranked && !m.fixed ? m.counts.back() : arch.current_params(i);
      out[i] = (eval_loss() - base) / std::max(1.0, n);
      m.module->set_gate(kept_gate);
    }
    supernet->train(was_training);
    return out;
  };

  auto trigger = [&](int64_t step) {
    const bool use_alpha = k_rem > o.alpha_free_triggers;
    auto expected = arch.expected_sizes(use_alpha);
    const double e = std::accumulate(expected.begin(), expected.end(), 0.0);
    const double delta = removal_amount(e, module_budget, k_rem);
    const bool last = k_rem == 1;
    --k_rem;
    ++result.triggers;
    for (size_t i = 0; i < sizes.size(); ++i)
      if (arch.modules[i].ranked) sizes[i] = expected[i];
    // What the decision saw: [id, smoothed sensitivity, alpha's on-probability, softmax(beta) (ranked
    // modules; [] otherwise)] of every module kept so far.
    nlohmann::json scores = nlohmann::json::array();
    const auto p_on = arch.on_probabilities();
    const auto p_rank = has_ranked ? at::softmax(arch.beta.detach().to(at::kDouble), -1).cpu().contiguous() : at::Tensor();
    const auto removal_scores = ablation_n > 0 ? ablation_scores() : tracker.smoothed();
    for (size_t i = 0; i < arch.modules.size(); ++i) {
      const auto& m = arch.modules[i];
      if (m.removed) continue;
      std::vector<double> ranks;
      if (m.ranked) {
        const double* row = p_rank.data_ptr<double>() + m.beta_row * p_rank.size(1);
        ranks.assign(row, row + p_rank.size(1));
      }
      nlohmann::json row = {m.module->id(), tracker.smoothed()[i], p_on[i], ranks};
      if (ablation_n > 0) row.push_back(removal_scores[i]);
      scores.push_back(std::move(row));
    }
    auto gone = modules_to_remove(removal_scores, removed_flags(), prunable, sizes, delta, /*force_one=*/!last);
    // The last removal, closed with the least waste when every size is exact (no rank left free).
    if (last && arch.free_ranked().empty())
      gone = close_last_removal(removal_scores, removed_flags(), prunable, sizes, delta, std::move(gone));
    nlohmann::json removed_ids = nlohmann::json::array();
    for (size_t i : gone) {
      auto& m = arch.modules[i];
      m.removed = true;
      if (m.ranked) {
        arch.fix_dimension_(i);
        sizes[i] = 0;
      }
      removed_ids.push_back(m.module->id());
    }
    nlohmann::json fixed_ids = nlohmann::json::array();
    double agreement = NAN;
    if (has_ranked && arch.iterative && history.size() >= 2) {
      agreement = dimension_agreement(values_of(arch, history.front()), values_of(arch, history.back()));
      auto free = arch.free_ranked();
      const int64_t q = fix_count(agreement, static_cast<int64_t>(free.size()), k_rem);
      if (q > 0 && q == static_cast<int64_t>(free.size())) {
        // The last fix: no stability order needed, the budget decides; at the last trigger the fill may
        // also lower ranks (what is left above the budget would otherwise cost a whole module).
        fixed_ids = fix_all(free, k_rem == 0);
      } else if (q > 0) {
        std::vector<int64_t> rows;
        for (size_t i : free) rows.push_back(arch.modules[i].beta_row);
        auto hist = at::stack(history).index_select(1, at::tensor(rows, at::kLong));
        auto dsi = dimension_stability(hist);
        std::vector<size_t> order(free.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return dsi[a] < dsi[b]; });
        for (int64_t k = 0; k < q; ++k) {
          auto& m = arch.modules[free[order[k]]];
          arch.fix_dimension_(free[order[k]], arch.chosen_index(free[order[k]], o.rank_energy));
          beta_choice[free[order[k]]] = m.fixed_index;
          fixed_ids.push_back({{"id", m.module->id()}, {"rank", arch.candidates[m.fixed_index]}});
        }
      }
    }
    if (o.rank_window == 0) history.clear();  // the code's rule: Eq. 9-10 look back to the last trigger
    ctx.event({{"event", "trigger"},       {"step", step},           {"trigger", result.triggers},
               {"remaining", k_rem},       {"expected", e + shared_params}, {"delta", delta},
               {"removed", removed_ids},   {"fixed", fixed_ids},     {"agreement", std::isnan(agreement) ? nlohmann::json() : nlohmann::json(agreement)},
               {"kept_params", arch.kept_params() + shared_params}, {"scores", scores}});
  };

  int64_t step = 0, start_epoch = 0, start_batch = 0;
  bool done = false;
  double seconds_before = 0;  // search wall time of earlier segments of a resumed run
  const bool resumed = ck.resume && io::is_file(ck.path);
  if (resumed) {
    auto st = train::RunState::load(ck.path, "search");
    const auto& m = st.meta;
    if (m.at("total_steps").get<int64_t>() != total_steps || m.at("modules").get<size_t>() != arch.modules.size())
      throw ConfigError(ck.path + ": the saved search has " + m.at("total_steps").dump() + " steps over " +
                        m.at("modules").dump() + " modules, this one " + std::to_string(total_steps) + " over " +
                        std::to_string(arch.modules.size()) + "; resume with the original options");
    st.restore_params("weights", weights);
    st.restore_params("arch", arch_params);
    st.get_optimizer("optimizer_w", opt_w);
    st.get_optimizer("optimizer_a", opt_a);
    st.get_generator("rng_gumbel", gen);
    st.restore_default_generators(device);
    history = st.get_list("history");
    const auto& mods = m.at("state");
    for (size_t i = 0; i < arch.modules.size(); ++i) {
      arch.modules[i].removed = mods.at(i).at(0);
      arch.modules[i].fixed = mods.at(i).at(1);
      arch.modules[i].fixed_index = mods.at(i).at(2);
    }
    sizes = m.at("sizes").get<std::vector<double>>();
    tracker.restore(m.at("sensitivity").get<std::vector<double>>());
    if (auto* reg = tracker.regression()) reg->restore(st.get_list("gate_effect"), m.at("gate_effect_samples"));
    detector.restore(m.at("detector").get<std::deque<std::vector<double>>>(), m.at("detector_seen"));
    k_rem = m.at("k_rem");
    last_trigger_step = m.value("last_trigger_step", int64_t{-1});
    stage = m.at("stage").get<int>() == 0 ? Architecture::Stage::Binary : Architecture::Stage::Dimension;
    result.triggers = m.at("triggers");
    result.filled = m.value("filled", int64_t{0});
    beta_choice = m.at("beta_choice").get<std::vector<int64_t>>();
    if (m.contains("rank_gains")) arch.restore_rank_gains(m.at("rank_gains").get<std::vector<double>>());
    result.epochs_run = m.at("epochs_run");
    result.curve = m.at("curve").get<std::vector<std::array<double, 3>>>();
    step = m.at("step");
    start_epoch = m.at("epoch");
    start_batch = m.at("batch");
    done = m.at("done");
    seconds_before = m.at("seconds");
    ctx.info("resumed from " + ck.path + " at step " + std::to_string(step) + " of " + std::to_string(total_steps) +
             " (" + std::to_string(result.triggers) + " triggers done)");
    ctx.event({{"event", "resume"}, {"step", step}});
  } else {
    ctx.event(start_event);
  }
  dp.broadcast_from_writer_(all_params);  // every process starts from rank 0's weights
  // Everything the loop needs to continue after (epoch, next batch), written atomically.
  auto save_state = [&](int64_t epoch, int64_t next_batch) {
    ctx.event({{"event", "checkpoint"}, {"step", step}});
    train::RunState st("search");
    nlohmann::json mods = nlohmann::json::array();
    for (const auto& m : arch.modules) mods.push_back({m.removed, m.fixed, m.fixed_index});
    st.meta = {{"step", step},
               {"epoch", epoch},
               {"batch", next_batch},
               {"done", done},
               {"total_steps", total_steps},
               {"modules", arch.modules.size()},
               {"state", mods},
               {"sizes", sizes},
               {"sensitivity", tracker.smoothed()},
               {"detector", detector.recent()},
               {"detector_seen", detector.seen()},
               {"k_rem", k_rem},
               {"last_trigger_step", last_trigger_step},
               {"stage", stage == Architecture::Stage::Binary ? 0 : 1},
               {"triggers", result.triggers},
               {"filled", result.filled},
               {"beta_choice", beta_choice},
               {"rank_gains", arch.rank_gains()},
               {"epochs_run", result.epochs_run},
               {"curve", result.curve},
               {"seconds", seconds_before + timer.seconds()}};
    st.put_params("weights", weights);
    st.put_params("arch", arch_params);
    st.put_list("history", history);
    if (auto* reg = tracker.regression()) {
      st.put_list("gate_effect", reg->state());
      st.meta["gate_effect_samples"] = reg->samples();
    }
    st.put_optimizer("optimizer_w", opt_w);
    st.put_optimizer("optimizer_a", opt_a);
    st.put_generator("rng_gumbel", gen);
    st.put_default_generators(device);
    st.save(ck.path);
  };
  const bool finished_before = done;  // resumed from the state saved after the last step
  for (int64_t epoch = start_epoch; epoch < o.epochs && !done; ++epoch) {
    result.epochs_run = epoch + 1;
    const double tau = o.tau_start - (o.tau_start - o.tau_end) * static_cast<double>(epoch) / static_cast<double>(o.epochs);
    auto w_batches = data::epoch_batches(w_tok.size(), o.batch_size, ctx.seed, epoch, true);
    auto a_batches = data::epoch_batches(a_tok.size(), o.batch_size, data::derive_seed(ctx.seed, 1000), epoch, true);
    supernet->train(true);
    const size_t first = resumed && epoch == start_epoch ? static_cast<size_t>(start_batch) : 0;
    for (size_t t = first; t < w_batches.size(); ++t) {
      if (dp.any(ctx.should_stop())) {
        if (!dp.writer()) throw Interrupted("search stopped at step " + std::to_string(step) + " (rank 0 keeps the state)");
        if (!ck.enabled()) throw Interrupted("search stopped at step " + std::to_string(step) + " (no checkpoint kept)");
        save_state(epoch, static_cast<int64_t>(t));
        throw Interrupted("search stopped at step " + std::to_string(step) + "; state saved in " + ck.path);
      }
      // 1. Architecture step on a validation-half batch, with clean gradients (Q1, Q3).
      opt_a.zero_grad();
      opt_w.zero_grad();
      const auto arch_stage = stage;
      arch.sample_gates_(stage, tau, gen);
      auto arch_extra = arch.regularizer(o.arch_reg);
      if (stage == Architecture::Stage::Dimension)
        if (auto cost = arch.rank_cost(o.rank_cost); cost.defined()) arch_extra = arch_extra + cost;
      if (stage == Architecture::Stage::Dimension)
        if (auto price = arch.rank_price(o.rank_price); price.defined()) arch_extra = arch_extra + price;
      const double la = checked_loss(dp.backward_(forward_loss(a_tok, a_batches[t % a_batches.size()]), arch_extra,
                                                  all_params),
                                     "validation", step + 1);
      opt_a.step();
      if (arch_stage == Architecture::Stage::Dimension) arch.observe_rank_gradient_(dp.writer());
      if (o.early_selection) {
        tracker.record_validation(arch.modules);
        if (arch_stage == Architecture::Stage::Binary) tracker.record_sample(arch.sampled_on(), la);
      }
      // 2. Weight step on a train-half batch with the binary configuration (one optimizer step, Q2).
      opt_w.zero_grad();
      opt_a.zero_grad();
      arch.sample_gates_(Architecture::Stage::Binary, tau, gen, rank_draw);
      // When the sample switched every kept module off, no PEFT weight is in the graph: nothing to
      // learn from this batch (AdamW skips parameters without a gradient; the step still counts).
      const double lw = checked_loss(dp.backward_(forward_loss(w_tok, w_batches[t]), {}, weights), "train", step + 1);
      if (o.early_selection) tracker.record_sample(arch.sampled_on(), lw);
      const double lr = o.lr * schedule.factor(step);
      train::clipped_adamw_step(opt_w, weights, lr, o.clip_norm);
      ++step;
      // 3. Early selection (§6-§9).
      double stability = NAN;
      bool fired = false;
      if (o.early_selection) {
        tracker.update_from_train(arch.modules);
        if (epoch >= o.prune_begin_epoch && k_rem > 0 && tracker.ready()) {
          if (has_ranked && arch.iterative) {
            history.push_back(arch.beta.detach().clone());
            if (o.rank_window > 0 && static_cast<int64_t>(history.size()) > o.rank_window) history.erase(history.begin());
          }
          auto ind = importance_indicator(tracker.smoothed(), removed_flags(), sizes, module_budget);
          fired = detector.update(ind, &stability);
          // --trigger-gap: the structure left by the last trigger trains for a while before the next.
          if (fired && o.trigger_gap > 0 && last_trigger_step >= 0 && step - last_trigger_step < o.trigger_gap)
            fired = false;
          if (dp.active()) {  // rank 0 decides whether the trigger fires, then what it removes and fixes
            auto f = at::full({1}, fired ? 1L : 0L, at::kLong);
            dp.broadcast_from_writer_({f});
            fired = f.item<int64_t>() != 0;
          }
          if (fired) {
            last_trigger_step = step;
            trigger(step);
            adopt_writer_structure();
          }
        }
      }
      auto expected = arch.expected_sizes(k_rem > o.alpha_free_triggers);
      const double e = std::accumulate(expected.begin(), expected.end(), 0.0) + shared_params;
      const double kept = arch.kept_params() + shared_params;
      result.curve.push_back({static_cast<double>(step), e, kept});
      if (step % o.log_every == 0 || fired) {
        ctx.event({{"event", "step"}, {"step", step}, {"epoch", epoch + 1}, {"tau", tau},
                   {"stage", arch_stage == Architecture::Stage::Binary ? "binary" : "dimension"}, {"loss_val", la},
                   {"loss_train", lw}, {"lr", lr}, {"expected", e}, {"kept_params", kept},
                   {"triggers", result.triggers}, {"stability", std::isnan(stability) ? nlohmann::json() : nlohmann::json(stability)}});
      }
      // The next step's stage follows this step's trigger (the ablation orders switch after half of them).
      if (arch.iterative) stage = next_stage(stage, o, result.triggers);
      char status[128];
      std::snprintf(status, sizeof status, "triggers %lld/%lld kept %.0f loss %.3f", static_cast<long long>(result.triggers),
                    static_cast<long long>(o.max_triggers), kept, lw);
      ctx.report({"search", step, total_steps, status});
      if (o.early_selection && k_rem == 0) done = true;
      if (dp.writer() && ck.due(step)) save_state(epoch, static_cast<int64_t>(t) + 1);
      if (done) break;
    }
  }
  if (ctx.progress) ctx.progress->finish("search");
  if (dp.writer() && ck.enabled() && !finished_before) {
    done = true;  // the selection below is deterministic given this state: a resume redoes only it
    save_state(o.epochs, 0);
  }
  result.steps = step;
  result.completed = !o.early_selection || k_rem == 0;
  if (o.early_selection && k_rem > 0)
    result.warnings.push_back("the search ended after " + std::to_string(result.epochs_run) + " epochs with " +
                              std::to_string(result.triggers) + " of " + std::to_string(o.max_triggers) +
                              " triggers; raise --epochs or lower --threshold");
  // Freeze every remaining dimension (argmax beta, or the budget fill); removed modules were fixed
  // when they went.
  const auto still_free = arch.free_ranked();
  if (!still_free.empty()) ctx.event({{"event", "final_fix"}, {"fixed", fix_all(still_free, true)}});
  if (!o.early_selection) {
    for (size_t i = 0; i < arch.modules.size(); ++i)
      if (!arch.selected_by_logits(i)) arch.modules[i].removed = true;
  } else {
    // Budget repair: the reference removal can stop short of delta; never exceed the budget.
    std::vector<double> exact(arch.modules.size());
    for (size_t i = 0; i < exact.size(); ++i) exact[i] = arch.current_params(i);
    const double excess = arch.kept_params() + shared_params - budget;
    for (size_t i : repair_to_budget(tracker.smoothed(), removed_flags(), prunable, exact, excess)) {
      arch.modules[i].removed = true;
      ++result.repaired;
    }
    if (result.repaired > 0)
      result.warnings.push_back("removed " + std::to_string(result.repaired) +
                                " more module(s) after the last trigger to stay within the budget");
  }
  adopt_writer_structure();
  result.structure = arch.final_structure(space);
  result.beta_structure = result.structure;
  for (auto& spec : result.beta_structure.modules)
    for (size_t i = 0; i < arch.modules.size(); ++i)
      if (arch.modules[i].module->site_name() == spec.site && arch.modules[i].module->method() == spec.method &&
          beta_choice[i] >= 0)
        spec.rank = arch.candidates[beta_choice[i]];
  bool has_shared = false;
  for (const auto& m : result.structure.modules) has_shared = has_shared || peft::uses_shared_params(m.method);
  result.params = arch.kept_params() + (has_shared ? shared_params : 0.0);
  result.seconds = seconds_before + timer.seconds();
  for (auto& m : supernet->modules) m->set_gate(peft::Gate::full());
  supernet->detach_();
  for (const auto& w : result.warnings) ctx.warn(w);
  ctx.event({{"event", "done"}, {"result", result.to_json()}, {"structure", result.structure.to_json()}});
  return result;
}

}  // namespace bipeft::search
