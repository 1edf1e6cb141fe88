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

using Stage = Architecture::Stage;

class Searcher::Impl {
 public:
  Impl(model::T5Model backbone, const text::Tokenizer& tok, const data::TaskData& task, const SpaceOptions& space,
       const SearchOptions& options, double budget, const RunContext& ctx, const train::Checkpointing& ck);
  SearchResult run();

  SearchState state;

 private:
  Stage stage() const { return state.stage == 0 ? Stage::Binary : Stage::Dimension; }
  std::vector<bool> removed_flags() const;
  at::Tensor forward_loss(const std::vector<data::TokenizedExample>& all, const std::vector<size_t>& idx);
  void adopt_writer_structure();
  nlohmann::json fix_all(const std::vector<size_t>& free, bool final_fix);
  void measuring_gates_();
  double val_prefix_loss(int64_t rows);
  std::vector<double> ablation_scores();
  // The sensitivity scores every selection decision reads: the tracker's, balanced per stack with
  // --stack-balance (stack_balanced_scores).
  std::vector<double> selection_scores() const;
  int64_t choose_rank(size_t i);
  nlohmann::json trigger_scores(const std::vector<double>& removal_scores) const;
  nlohmann::json fix_stable_dimensions(double* agreement);
  void trigger();
  void select_early(double* stability, bool* fired);
  void train_step(int64_t epoch, double tau, const std::vector<size_t>& w_batch, const std::vector<size_t>& a_batch);
  void restore();
  void save(int64_t epoch, int64_t next_batch);
  void check_stop(int64_t epoch, size_t t);
  SearchResult finish();

  // What the search was given.
  model::T5Model backbone_;
  const text::Tokenizer& tok_;
  const SpaceOptions space_options_;
  const SearchOptions o_;
  const double budget_;
  const RunContext ctx_;
  const train::Checkpointing ck_;
  // What the constructor builds.
  Timer timer_;
  Supernet net_;
  c10::Device device_;
  at::Generator gen_;  // Gumbel samples and the architecture's initialisation
  Architecture arch_;
  const dist::DataParallel dp_;
  const double shared_params_, module_budget_;
  const bool has_ranked_;
  const Architecture::RankDraw rank_draw_;
  SearchHalves halves_;
  int64_t ablation_n_ = 0;  // --ablation-rows, at most the validation half
  int64_t probe_n_ = 0;     // --rank-probe-rows with --rank-choice probe, at most the validation half
  int64_t trigger_gap_ = 0;  // effective_trigger_gap: weight steps a trigger waits after the last
  int64_t first_trigger_step_ = 0;  // spread triggers: trigger j may fire from this step + j x trigger_gap_
  std::vector<std::string> module_sites_;  // --stack-balance: each module's site name (fixed for the search)
  std::vector<torch::Tensor> weights_, arch_params_, all_params_;
  std::unique_ptr<torch::optim::AdamW> opt_w_;
  std::unique_ptr<torch::optim::Adam> opt_a_;
  std::unique_ptr<train::LinearSchedule> schedule_;
  std::vector<bool> prunable_;
  TriggerDetector detector_;
  SensitivityTracker tracker_;
  std::vector<at::Tensor> history_;  // beta snapshots since the last trigger (rank_window 0) or the last rank_window
  bool resumed_ = false;
  nlohmann::json start_event_;
};

namespace {

Architecture::RankDraw rank_draw_of(const std::string& rule) {
  return rule == "uniform"    ? Architecture::RankDraw::Uniform
         : rule == "beta"     ? Architecture::RankDraw::Beta
         : rule == "sandwich" ? Architecture::RankDraw::Sandwich
                              : Architecture::RankDraw::Argmax;
}

const SearchOptions& validated(const SearchOptions& o) {
  o.validate();
  return o;
}

}  // namespace

Searcher::Impl::Impl(model::T5Model backbone, const text::Tokenizer& tok, const data::TaskData& task,
                     const SpaceOptions& space, const SearchOptions& options, double budget, const RunContext& ctx,
                     const train::Checkpointing& ck)
    : backbone_(backbone),
      tok_(tok),
      space_options_(space),
      o_(validated(options)),
      budget_(budget),
      ctx_(ctx),
      ck_(ck),
      net_(build_supernet(backbone, space, o_.ranks, ctx.seed, budget)),
      device_(backbone->shared->weight.device()),
      gen_(at::detail::createCPUGenerator(data::derive_seed(ctx.seed, 7))),
      arch_(net_.modules, o_.architecture(), gen_),
      dp_(ctx.comm),  // data parallelism: each process computes its shard of every global batch
      shared_params_(net_.sizes.shared),
      module_budget_(budget - net_.sizes.shared),
      has_ranked_(arch_.beta.numel() > 0),
      rank_draw_(rank_draw_of(o_.rank_training)),
      prunable_(arch_.modules.size(), true),
      detector_(o_.window, o_.threshold),
      tracker_(arch_.modules.size(), SensitivityOptions{o_.ema, o_.criterion, o_.abs_grad, o_.sensitivity_snr}) {
  at::manual_seed(dp_.process_seed(ctx.seed));  // dropout
  halves_ = tokenize_search_halves(tok, task, o_.max_train_examples);
  ablation_n_ = std::min<int64_t>(o_.ablation_rows, static_cast<int64_t>(halves_.val.size()));
  if (o_.rank_choice == "probe") probe_n_ = std::min<int64_t>(o_.rank_probe_rows, static_cast<int64_t>(halves_.val.size()));
  weights_ = net_.model->trainable_parameters();
  opt_w_ = std::make_unique<torch::optim::AdamW>(weights_, torch::optim::AdamWOptions(o_.lr).weight_decay(o_.weight_decay));
  arch_params_ = {arch_.alpha};
  if (has_ranked_) arch_params_.push_back(arch_.beta);
  opt_a_ = std::make_unique<torch::optim::Adam>(
      arch_params_,
      torch::optim::AdamOptions(o_.arch_lr).betas({o_.arch_beta1, o_.arch_beta2}).weight_decay(o_.arch_weight_decay));
  all_params_ = weights_;
  all_params_.insert(all_params_.end(), arch_params_.begin(), arch_params_.end());
  const int64_t steps_per_epoch = (static_cast<int64_t>(halves_.train.size()) + o_.batch_size - 1) / o_.batch_size;
  state.total_steps = steps_per_epoch * o_.epochs;
  trigger_gap_ = effective_trigger_gap(o_, steps_per_epoch);
  // The first weight step (1-based) whose trigger test can pass: the test needs window + 1 indicators
  // before it, recorded from the prune-begin epoch's first step on.
  first_trigger_step_ = o_.prune_begin_epoch * steps_per_epoch + o_.window + 2;
  if (o_.stack_balance)
    for (const auto& m : arch_.modules) module_sites_.push_back(m.module->site_name());
  schedule_ = std::make_unique<train::LinearSchedule>(state.total_steps, 0);
  state.remaining_triggers = o_.max_triggers;
  state.stage = o_.stage_order == "dim-then-binary" ? 1 : 0;
  state.decisions.resize(arch_.modules.size());
  state.sizes.resize(arch_.modules.size());
  for (size_t i = 0; i < state.sizes.size(); ++i) state.sizes[i] = arch_.modules[i].full;
  state.beta_choice.assign(arch_.modules.size(), -1);

  const double whole = net_.sizes.whole;
  ctx_.info("search space " + space_options_.space + ": " + std::to_string(arch_.modules.size()) + " modules, " +
            fmt(whole) + " parameters at rank " + std::to_string(o_.ranks.back()) + "; budget " + fmt(budget));
  start_event_ = {{"event", "start"},
                  {"modules", arch_.modules.size()},
                  {"space_params", whole},
                  {"budget", budget},
                  {"shared_params", shared_params_},
                  {"train_half", halves_.train.size()},
                  {"val_half", halves_.val.size()},
                  {"total_steps", state.total_steps},
                  {"trigger_gap", trigger_gap_},
                  {"first_trigger_step", first_trigger_step_},
                  {"options", o_.to_json()}};
}

std::vector<bool> Searcher::Impl::removed_flags() const {
  std::vector<bool> r(arch_.modules.size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = arch_.modules[i].removed;
  return r;
}

// This process's part of the loss of the global batch `idx` (undefined when its shard is empty).
at::Tensor Searcher::Impl::forward_loss(const std::vector<data::TokenizedExample>& all, const std::vector<size_t>& idx) {
  return dp_.shard_loss(all, idx, [&](const std::vector<size_t>& rows) {
    return train::objective_loss(o_.objective, *backbone_, data::make_batch(all, rows, tok_.pad_id()));
  });
}

// Every process holds rank 0's decisions: removed modules and fixed ranks (all processes compute them
// from the same summed statistics; rank 0's copy is the one kept).
void Searcher::Impl::adopt_writer_structure() {
  if (!dp_.active()) return;
  auto flags = at::empty({static_cast<int64_t>(arch_.modules.size()), 3}, at::kLong);
  auto* p = flags.data_ptr<int64_t>();
  for (const auto& m : arch_.modules) {
    *p++ = m.removed;
    *p++ = m.fixed;
    *p++ = static_cast<int64_t>(m.fixed_index);
  }
  dp_.broadcast_from_writer_({flags});
  p = flags.data_ptr<int64_t>();
  for (auto& m : arch_.modules) {
    m.removed = *p++ != 0;
    m.fixed = *p++ != 0;
    m.fixed_index = static_cast<decltype(m.fixed_index)>(*p++);
  }
}

// Fixes every module in `free` (ranked, kept, unfixed) and returns what it fixed for the trace. With the
// budget fill (ours) the ranks start at argmax beta and the most sensitive modules grow while the whole
// kept structure stays within the budget (at the final fix, argmax ranks over the budget are first
// lowered: final_fix); otherwise each is fixed at argmax beta.
nlohmann::json Searcher::Impl::fix_all(const std::vector<size_t>& free, bool final_fix) {
  const bool fill = o_.budget_fill && o_.early_selection && arch_.iterative;
  std::vector<int64_t> chosen(free.size());
  for (size_t k = 0; k < free.size(); ++k) chosen[k] = choose_rank(free[k]);
  const auto argmax = chosen;
  if (fill && !free.empty()) {
    double others = shared_params_ + arch_.kept_params();  // everything kept but the free modules
    std::vector<std::vector<double>> counts;
    std::vector<double> s;
    const auto scores = selection_scores();
    for (size_t i : free) {
      others -= arch_.current_params(i);
      counts.push_back(arch_.modules[i].counts);
      s.push_back(scores[i]);
    }
    chosen = fill_ranks_to_budget(counts, chosen, s, budget_ - others, /*may_lower=*/final_fix);
  }
  nlohmann::json out = nlohmann::json::array();
  for (size_t k = 0; k < free.size(); ++k) {
    state.beta_choice[free[k]] = argmax[k];
    arch_.fix_dimension_(free[k], chosen[k]);
    nlohmann::json f = {{"id", arch_.modules[free[k]].module->id()}, {"rank", arch_.candidates[chosen[k]]}};
    if (chosen[k] != argmax[k]) {
      f["argmax_rank"] = arch_.candidates[argmax[k]];
      state.filled += chosen[k] - argmax[k];
    }
    out.push_back(std::move(f));
  }
  return out;
}

// Gates for a measurement: each kept module at its fixed rank, or at the largest while beta still
// chooses (with the rank draws of the weight steps every component has trained; argmax beta would be
// close to a coin flip); removed modules off.
void Searcher::Impl::measuring_gates_() {
  for (size_t i = 0; i < arch_.modules.size(); ++i) {
    const auto& m = arch_.modules[i];
    const int64_t r = m.removed ? 0 : !m.ranked ? 1 : m.fixed ? arch_.candidates[m.fixed_index] : arch_.candidates.back();
    m.module->set_gate(peft::Gate::fixed(r));
  }
}

// The mean loss of the first `rows` rows of the validation half under the modules' current gates
// (the caller turns dropout and gradients off). Every process computes the same number.
double Searcher::Impl::val_prefix_loss(int64_t rows) {
  const auto& val = halves_.val;
  double sum = 0;
  for (int64_t b = 0; b < rows; b += o_.batch_size) {
    std::vector<size_t> idx;
    for (int64_t r = b; r < std::min(rows, b + o_.batch_size); ++r) idx.push_back(static_cast<size_t>(r));
    sum += train::objective_loss(o_.objective, *backbone_, data::make_batch(val, idx, tok_.pad_id())).item<double>() *
           static_cast<double>(idx.size());
  }
  return sum / static_cast<double>(std::max<int64_t>(1, rows));
}

std::vector<double> Searcher::Impl::selection_scores() const {
  auto scores = tracker_.scores();
  return o_.stack_balance ? stack_balanced_scores(scores, module_sites_, removed_flags()) : scores;
}

// --ablation-rows (ours): per kept module, the loss increase on the first rows of the validation half
// when it alone is switched off (the others kept), per parameter; -inf for removed modules. Dropout is
// off while it measures; every process computes the same numbers.
std::vector<double> Searcher::Impl::ablation_scores() {
  at::NoGradGuard ng;
  auto& supernet = net_.model;
  const bool was_training = supernet->is_training();
  supernet->train(false);
  measuring_gates_();
  const double base = val_prefix_loss(ablation_n_);
  std::vector<double> out(arch_.modules.size(), -std::numeric_limits<double>::infinity());
  for (size_t i = 0; i < arch_.modules.size(); ++i) {
    auto& m = arch_.modules[i];
    if (m.removed) continue;
    const auto kept_gate = m.module->gate();
    m.module->set_gate(peft::Gate::fixed(0));
    const double n = m.ranked && !m.fixed ? m.counts.back() : arch_.current_params(i);
    out[i] = (val_prefix_loss(ablation_n_) - base) / std::max(1.0, n);
    m.module->set_gate(kept_gate);
  }
  supernet->train(was_training);
  return out;
}

// The candidate a fix records for free ranked module i: argmax beta (or --rank-energy's), or with
// --rank-choice probe the smallest candidate whose validation loss saves rank_probe_share of what the
// best one saves (ours; beta's choice when no candidate saves anything). Every process computes the same.
int64_t Searcher::Impl::choose_rank(size_t i) {
  const int64_t fallback = arch_.chosen_index(i, o_.rank_energy);
  auto& m = arch_.modules[i];
  if (probe_n_ <= 0 || !m.ranked || m.removed || m.fixed) return fallback;
  at::NoGradGuard ng;
  auto& supernet = net_.model;
  const bool was_training = supernet->is_training();
  supernet->train(false);
  const int64_t C = static_cast<int64_t>(arch_.candidates.size());
  std::vector<double> losses(static_cast<size_t>(C + 1), 0.0);
  const int64_t draws = std::max<int64_t>(1, o_.rank_probe_draws);
  // The draws come from their own generator (seeded by the step and the module), so the probe leaves the
  // search's Gumbel stream alone and a resumed search draws the same configurations.
  auto gen = at::detail::createCPUGenerator(
      data::derive_seed(ctx_.seed, 0x9e37u + static_cast<uint64_t>(state.step) * 4099u + static_cast<uint64_t>(i)));
  std::vector<double> p_on;
  if (o_.rank_probe_draws > 0) p_on = arch_.on_probabilities();
  for (int64_t d = 0; d < draws; ++d) {
    measuring_gates_();
    if (o_.rank_probe_draws > 0) {
      for (size_t j = 0; j < arch_.modules.size(); ++j) {
        const auto& o = arch_.modules[j];
        if (j == i || o.removed) continue;
        const bool on = at::rand({1}, gen, at::kDouble).item<double>() < p_on[j];
        int64_t r = on ? 1 : 0;
        if (on && o.ranked)
          r = o.fixed ? arch_.candidates[o.fixed_index] : arch_.candidates[at::randint(C, {1}, gen, at::kLong).item<int64_t>()];
        o.module->set_gate(peft::Gate::fixed(r));
      }
    }
    m.module->set_gate(peft::Gate::fixed(0));
    losses[0] += val_prefix_loss(probe_n_) / static_cast<double>(draws);
    for (int64_t k = 0; k < C; ++k) {
      m.module->set_gate(peft::Gate::fixed(arch_.candidates[k]));
      losses[k + 1] += val_prefix_loss(probe_n_) / static_cast<double>(draws);
    }
  }
  supernet->train(was_training);
  const int64_t k = smallest_sufficient_candidate(losses, o_.rank_probe_share);
  ctx_.event({{"event", "rank_probe"},
              {"step", state.step},
              {"id", m.module->id()},
              {"losses", losses},
              {"ranks", arch_.candidates},
              {"draws", o_.rank_probe_draws},
              {"rank", arch_.candidates[k >= 0 ? k : fallback]},
              {"argmax_rank", arch_.candidates[fallback]}});
  return k >= 0 ? k : fallback;
}

// What a trigger's decision saw: [id, sensitivity score (smoothed; over its spread with snr; over its stack's median
// with stack_balance), alpha's on-probability, softmax(beta)
// (ranked modules; [] otherwise), the ablation score (with --ablation-rows)] of every module kept so far.
nlohmann::json Searcher::Impl::trigger_scores(const std::vector<double>& removal_scores) const {
  nlohmann::json scores = nlohmann::json::array();
  const auto p_on = arch_.on_probabilities();
  const auto sensitivity = selection_scores();
  const auto p_rank = has_ranked_ ? at::softmax(arch_.beta.detach().to(at::kDouble), -1).cpu().contiguous() : at::Tensor();
  for (size_t i = 0; i < arch_.modules.size(); ++i) {
    const auto& m = arch_.modules[i];
    if (m.removed) continue;
    std::vector<double> ranks;
    if (m.ranked) {
      const double* row = p_rank.data_ptr<double>() + m.beta_row * p_rank.size(1);
      ranks.assign(row, row + p_rank.size(1));
    }
    nlohmann::json row = {m.module->id(), sensitivity[i], p_on[i], ranks};
    if (ablation_n_ > 0) row.push_back(removal_scores[i]);
    scores.push_back(std::move(row));
  }
  return scores;
}

// §9: fixes the dimensions of the most stable free modules, as many as the agreement of the beta
// history's ends asks for (Eq. 9-10); returns what it fixed, and the agreement (NaN without a history).
nlohmann::json Searcher::Impl::fix_stable_dimensions(double* agreement) {
  nlohmann::json fixed_ids = nlohmann::json::array();
  *agreement = NAN;
  if (!has_ranked_ || !arch_.iterative || history_.size() < 2) return fixed_ids;
  *agreement = dimension_agreement(values_of(arch_, history_.front()), values_of(arch_, history_.back()));
  auto free = arch_.free_ranked();
  const int64_t q = fix_count(*agreement, static_cast<int64_t>(free.size()), state.remaining_triggers);
  if (q > 0 && q == static_cast<int64_t>(free.size())) {
    // The last fix: no stability order needed, the budget decides; at the last trigger the fill may
    // also lower ranks (what is left above the budget would otherwise cost a whole module).
    return fix_all(free, state.remaining_triggers == 0);
  }
  if (q <= 0) return fixed_ids;
  std::vector<int64_t> rows;
  for (size_t i : free) rows.push_back(arch_.modules[i].beta_row);
  auto hist = at::stack(history_).index_select(1, at::tensor(rows, at::kLong));
  auto dsi = dimension_stability(hist);
  std::vector<size_t> order(free.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return dsi[a] < dsi[b]; });
  for (int64_t k = 0; k < q; ++k) {
    const size_t i = free[order[k]];
    auto& m = arch_.modules[i];
    arch_.fix_dimension_(i, choose_rank(i));
    state.beta_choice[i] = m.fixed_index;
    fixed_ids.push_back({{"id", m.module->id()}, {"rank", arch_.candidates[m.fixed_index]}});
  }
  return fixed_ids;
}

// One trigger (§8-§9): removes about delta = (E - B) / K_rem parameters of the least sensitive modules,
// then fixes the most stable dimensions.
void Searcher::Impl::trigger() {
  const int64_t step = state.step;
  auto expected = arch_.expected_sizes(state.remaining_triggers > o_.alpha_free_triggers);
  const double e = std::accumulate(expected.begin(), expected.end(), 0.0);
  const double delta = removal_amount(e, module_budget_, state.remaining_triggers);
  const bool last = state.remaining_triggers == 1;
  --state.remaining_triggers;
  ++state.triggers;
  for (size_t i = 0; i < state.sizes.size(); ++i)
    if (arch_.modules[i].ranked) state.sizes[i] = expected[i];
  const auto removal_scores = ablation_n_ > 0 ? ablation_scores() : selection_scores();
  auto scores = trigger_scores(removal_scores);
  auto gone = modules_to_remove(removal_scores, removed_flags(), prunable_, state.sizes, delta, /*force_one=*/!last,
                                o_.removal_in_order);
  // The last removal, closed with the least waste when every size is exact (no rank left free).
  if (last && arch_.free_ranked().empty())
    gone = close_last_removal(removal_scores, removed_flags(), prunable_, state.sizes, delta, std::move(gone));
  nlohmann::json removed_ids = nlohmann::json::array();
  for (size_t i : gone) {
    auto& m = arch_.modules[i];
    m.removed = true;
    if (m.ranked) {
      arch_.fix_dimension_(i);
      state.sizes[i] = 0;
    }
    removed_ids.push_back(m.module->id());
  }
  double agreement = NAN;
  auto fixed_ids = fix_stable_dimensions(&agreement);
  if (o_.rank_window == 0) history_.clear();  // the code's rule: Eq. 9-10 look back to the last trigger
  ctx_.event({{"event", "trigger"},
              {"step", step},
              {"trigger", state.triggers},
              {"remaining", state.remaining_triggers},
              {"expected", e + shared_params_},
              {"delta", delta},
              {"removed", removed_ids},
              {"fixed", fixed_ids},
              {"agreement", std::isnan(agreement) ? nlohmann::json() : nlohmann::json(agreement)},
              {"kept_params", arch_.kept_params() + shared_params_},
              {"scores", scores}});
}

// §6-§7 after a weight step: the sensitivity averages, the beta history, the trigger test, and the
// trigger itself when it fires (rank 0 decides in a data-parallel search).
void Searcher::Impl::select_early(double* stability, bool* fired) {
  tracker_.update_from_train(arch_.modules);
  if (state.epoch < o_.prune_begin_epoch || state.remaining_triggers <= 0 || !tracker_.ready()) return;
  if (has_ranked_ && arch_.iterative) {
    history_.push_back(arch_.beta.detach().clone());
    if (o_.rank_window > 0 && static_cast<int64_t>(history_.size()) > o_.rank_window) history_.erase(history_.begin());
  }
  auto ind = importance_indicator(selection_scores(), removed_flags(), state.sizes, module_budget_);
  *fired = detector_.update(ind, stability);
  // --trigger-gap N: the structure left by the last trigger trains for N steps before the next.
  // --trigger-gap spread: a schedule, trigger j (0-based) from first_trigger_step_ + j x gap. Triggers whose
  // indicator is stable at every step fire exactly `gap` apart, as with N; one delayed by an unstable
  // indicator lets the next ones catch up (one per step), so the K triggers still end within the steps.
  if (*fired && trigger_gap_ > 0) {
    if (o_.trigger_gap == kTriggerGapSpread)
      *fired = state.step >= first_trigger_step_ + (o_.max_triggers - state.remaining_triggers) * trigger_gap_;
    else if (state.last_trigger_step >= 0 && state.step - state.last_trigger_step < trigger_gap_)
      *fired = false;
  }
  if (dp_.active()) {
    auto f = at::full({1}, *fired ? 1L : 0L, at::kLong);
    dp_.broadcast_from_writer_({f});
    *fired = f.item<int64_t>() != 0;
  }
  if (*fired) {
    state.last_trigger_step = state.step;
    trigger();
    adopt_writer_structure();
  }
}

// One search step (Algorithm 1): an architecture step on a validation-half batch, a weight step on a
// train-half batch, then early selection.
void Searcher::Impl::train_step(int64_t epoch, double tau, const std::vector<size_t>& w_batch,
                                const std::vector<size_t>& a_batch) {
  // 1. Architecture step with clean gradients (Q1, Q3).
  opt_a_->zero_grad();
  opt_w_->zero_grad();
  const auto arch_stage = stage();
  arch_.sample_gates_(arch_stage, tau, gen_);
  auto arch_extra = arch_.regularizer(o_.arch_reg);
  if (arch_stage == Stage::Dimension)
    if (auto cost = arch_.rank_cost(o_.rank_cost); cost.defined()) arch_extra = arch_extra + cost;
  if (arch_stage == Stage::Dimension)
    if (auto price = arch_.rank_price(o_.rank_price); price.defined()) arch_extra = arch_extra + price;
  const double la = checked_loss(dp_.backward_(forward_loss(halves_.val, a_batch), arch_extra, all_params_),
                                 "validation", state.step + 1);
  opt_a_->step();
  if (arch_stage == Stage::Dimension) arch_.observe_rank_gradient_(dp_.writer());
  if (o_.early_selection) {
    tracker_.record_validation(arch_.modules);
    if (arch_stage == Stage::Binary) tracker_.record_sample(arch_.sampled_on(), la);
  }
  // 2. Weight step with the binary configuration (one optimizer step, Q2). When the sample switched
  // every kept module off, no PEFT weight is in the graph: nothing to learn from this batch (AdamW
  // skips parameters without a gradient; the step still counts).
  opt_w_->zero_grad();
  opt_a_->zero_grad();
  arch_.sample_gates_(Stage::Binary, tau, gen_, rank_draw_);
  const double lw =
      checked_loss(dp_.backward_(forward_loss(halves_.train, w_batch), {}, weights_), "train", state.step + 1);
  if (o_.early_selection) tracker_.record_sample(arch_.sampled_on(), lw);
  const double lr = o_.lr * schedule_->factor(state.step);
  train::clipped_adamw_step(*opt_w_, weights_, lr, o_.clip_norm);
  ++state.step;
  // 3. Early selection (§6-§9).
  double stability = NAN;
  bool fired = false;
  if (o_.early_selection) select_early(&stability, &fired);
  auto expected = arch_.expected_sizes(state.remaining_triggers > o_.alpha_free_triggers);
  const double e = std::accumulate(expected.begin(), expected.end(), 0.0) + shared_params_;
  const double kept = arch_.kept_params() + shared_params_;
  state.curve.push_back({static_cast<double>(state.step), e, kept});
  if (state.step % o_.log_every == 0 || fired) {
    ctx_.event({{"event", "step"},
                {"step", state.step},
                {"epoch", epoch + 1},
                {"tau", tau},
                {"stage", arch_stage == Stage::Binary ? "binary" : "dimension"},
                {"loss_val", la},
                {"loss_train", lw},
                {"lr", lr},
                {"expected", e},
                {"kept_params", kept},
                {"triggers", state.triggers},
                {"stability", std::isnan(stability) ? nlohmann::json() : nlohmann::json(stability)}});
  }
  // The next step's stage follows this step's trigger (the ablation orders switch after half of them).
  if (arch_.iterative) state.stage = next_stage(arch_stage, o_, state.triggers) == Stage::Binary ? 0 : 1;
  char status[128];
  std::snprintf(status, sizeof status, "triggers %lld/%lld kept %.0f loss %.3f", static_cast<long long>(state.triggers),
                static_cast<long long>(o_.max_triggers), kept, lw);
  ctx_.report({"search", state.step, state.total_steps, status});
  if (o_.early_selection && state.remaining_triggers == 0) state.done = true;
}

void Searcher::Impl::restore() {
  auto st = train::RunState::load(ck_.path, "search");
  // Another search's state is refused before its fields are read.
  const auto& m = st.meta;
  if (m.value("total_steps", int64_t{-1}) != state.total_steps ||
      m.value("modules", int64_t{-1}) != static_cast<int64_t>(arch_.modules.size()))
    throw ConfigError(ck_.path + ": the saved search has " + m.value("total_steps", nlohmann::json()).dump() +
                      " steps over " + m.value("modules", nlohmann::json()).dump() + " modules, this one " +
                      std::to_string(state.total_steps) + " over " + std::to_string(arch_.modules.size()) +
                      "; resume with the original options");
  auto saved = SearchState::from_json(m, ck_.path);
  st.restore_params("weights", weights_);
  st.restore_params("arch", arch_params_);
  st.get_optimizer("optimizer_w", *opt_w_);
  st.get_optimizer("optimizer_a", *opt_a_);
  st.get_generator("rng_gumbel", gen_);
  st.restore_default_generators(device_);
  history_ = st.get_list("history");
  for (size_t i = 0; i < arch_.modules.size(); ++i) {
    arch_.modules[i].removed = saved.decisions[i].removed;
    arch_.modules[i].fixed = saved.decisions[i].fixed;
    arch_.modules[i].fixed_index = saved.decisions[i].fixed_index;
  }
  tracker_.restore(saved.sensitivity, saved.sensitivity_spread);
  if (auto* reg = tracker_.regression()) {
    if (!saved.gate_effect_samples)
      throw FormatError(ck_.path + ": the saved search has no gate_effect state; resume with the original options");
    reg->restore(st.get_list("gate_effect"), *saved.gate_effect_samples);
  }
  detector_.restore(saved.detector_recent, saved.detector_seen);
  if (!saved.rank_gains.empty()) arch_.restore_rank_gains(saved.rank_gains);
  state = std::move(saved);
  resumed_ = true;
}

// Everything the loop needs to continue at (epoch, next_batch), written atomically.
void Searcher::Impl::save(int64_t epoch, int64_t next_batch) {
  ctx_.event({{"event", "checkpoint"}, {"step", state.step}});
  state.epoch = epoch;
  state.batch = next_batch;
  for (size_t i = 0; i < arch_.modules.size(); ++i)
    state.decisions[i] = {arch_.modules[i].removed, arch_.modules[i].fixed, static_cast<int64_t>(arch_.modules[i].fixed_index)};
  state.sensitivity = tracker_.smoothed();
  state.sensitivity_spread = tracker_.spread();
  state.detector_recent = detector_.recent();
  state.detector_seen = detector_.seen();
  state.rank_gains = arch_.rank_gains();
  auto* reg = tracker_.regression();
  state.gate_effect_samples = reg ? std::optional<int64_t>(reg->samples()) : std::nullopt;
  train::RunState st("search");
  auto meta = state.to_json();
  meta["seconds"] = state.seconds + timer_.seconds();
  st.meta = std::move(meta);
  st.put_params("weights", weights_);
  st.put_params("arch", arch_params_);
  st.put_list("history", history_);
  if (reg) st.put_list("gate_effect", reg->state());
  st.put_optimizer("optimizer_w", *opt_w_);
  st.put_optimizer("optimizer_a", *opt_a_);
  st.put_generator("rng_gumbel", gen_);
  st.put_default_generators(device_);
  st.save(ck_.path);
}

// A stop request between steps: the state is saved (rank 0, with checkpointing) and Interrupted thrown.
void Searcher::Impl::check_stop(int64_t epoch, size_t t) {
  if (!dp_.any(ctx_.should_stop())) return;
  const std::string at_step = "search stopped at step " + std::to_string(state.step);
  if (!dp_.writer()) throw Interrupted(at_step + " (rank 0 keeps the state)");
  if (!ck_.enabled()) throw Interrupted(at_step + " (no checkpoint kept)");
  save(epoch, static_cast<int64_t>(t));
  throw Interrupted(at_step + "; state saved in " + ck_.path);
}

SearchResult Searcher::Impl::run() {
  if (ck_.resume && io::is_file(ck_.path)) {
    restore();
    ctx_.info("resumed from " + ck_.path + " at step " + std::to_string(state.step) + " of " +
              std::to_string(state.total_steps) + " (" + std::to_string(state.triggers) + " triggers done)");
    ctx_.event({{"event", "resume"}, {"step", state.step}});
  } else {
    ctx_.event(start_event_);
  }
  dp_.broadcast_from_writer_(all_params_);  // every process starts from rank 0's weights
  const bool finished_before = state.done;  // resumed from the state saved after the last step
  const int64_t start_epoch = state.epoch, start_batch = state.batch;
  for (int64_t epoch = start_epoch; epoch < o_.epochs && !state.done; ++epoch) {
    state.epoch = epoch;
    state.epochs_run = epoch + 1;
    const double tau =
        o_.tau_start - (o_.tau_start - o_.tau_end) * static_cast<double>(epoch) / static_cast<double>(o_.epochs);
    auto w_batches = data::epoch_batches(halves_.train.size(), o_.batch_size, ctx_.seed, epoch, true);
    auto a_batches = data::epoch_batches(halves_.val.size(), o_.batch_size, data::derive_seed(ctx_.seed, 1000), epoch, true);
    net_.model->train(true);
    const size_t first = resumed_ && epoch == start_epoch ? static_cast<size_t>(start_batch) : 0;
    for (size_t t = first; t < w_batches.size(); ++t) {
      check_stop(epoch, t);
      train_step(epoch, tau, w_batches[t], a_batches[t % a_batches.size()]);
      if (dp_.writer() && ck_.due(state.step)) save(epoch, static_cast<int64_t>(t) + 1);
      if (state.done) break;
    }
  }
  if (ctx_.progress) ctx_.progress->finish("search");
  if (dp_.writer() && ck_.enabled() && !finished_before) {
    state.done = true;  // the selection below is deterministic given this state: a resume redoes only it
    save(o_.epochs, 0);
  }
  return finish();
}

// After the loop: the remaining dimensions fixed, the budget repaired, the structure read off.
SearchResult Searcher::Impl::finish() {
  SearchResult result;
  result.budget = budget_;
  result.space_params = net_.sizes.whole;
  result.triggers = state.triggers;
  result.epochs_run = state.epochs_run;
  result.steps = state.step;
  result.completed = !o_.early_selection || state.remaining_triggers == 0;
  if (o_.early_selection && state.remaining_triggers > 0)
    result.warnings.push_back("the search ended after " + std::to_string(state.epochs_run) + " epochs with " +
                              std::to_string(state.triggers) + " of " + std::to_string(o_.max_triggers) +
                              " triggers; raise SearchOptions.epochs or lower SearchOptions.threshold");
  // Freeze every remaining dimension (argmax beta, or the budget fill); removed modules were fixed
  // when they went.
  const auto still_free = arch_.free_ranked();
  if (!still_free.empty()) ctx_.event({{"event", "final_fix"}, {"fixed", fix_all(still_free, true)}});
  if (!o_.early_selection) {
    for (size_t i = 0; i < arch_.modules.size(); ++i)
      if (!arch_.selected_by_logits(i)) arch_.modules[i].removed = true;
  } else {
    // Budget repair: the reference removal can stop short of delta; never exceed the budget.
    std::vector<double> exact(arch_.modules.size());
    for (size_t i = 0; i < exact.size(); ++i) exact[i] = arch_.current_params(i);
    const double excess = arch_.kept_params() + shared_params_ - budget_;
    for (size_t i : repair_to_budget(selection_scores(), removed_flags(), prunable_, exact, excess)) {
      arch_.modules[i].removed = true;
      ++result.repaired;
    }
    if (result.repaired > 0)
      result.warnings.push_back("removed " + std::to_string(result.repaired) +
                                " more module(s) after the last trigger to stay within the budget");
  }
  adopt_writer_structure();
  result.filled = state.filled;
  result.curve = state.curve;
  result.structure = arch_.final_structure(net_.space);
  result.beta_structure = result.structure;
  for (auto& spec : result.beta_structure.modules)
    for (size_t i = 0; i < arch_.modules.size(); ++i)
      if (arch_.modules[i].module->site_name() == spec.site && arch_.modules[i].module->method() == spec.method &&
          state.beta_choice[i] >= 0)
        spec.rank = arch_.candidates[state.beta_choice[i]];
  bool has_shared = false;
  for (const auto& m : result.structure.modules) has_shared = has_shared || peft::uses_shared_params(m.method);
  result.params = arch_.kept_params() + (has_shared ? shared_params_ : 0.0);
  result.seconds = state.seconds + timer_.seconds();
  for (auto& m : net_.model->modules) m->set_gate(peft::Gate::full());
  net_.model->detach_();
  for (const auto& w : result.warnings) ctx_.warn(w);
  ctx_.event({{"event", "done"}, {"result", result.to_json()}, {"structure", result.structure.to_json()}});
  return result;
}

Searcher::Searcher(model::T5Model backbone, const text::Tokenizer& tokenizer, const data::TaskData& task,
                   const SpaceOptions& space, const SearchOptions& options, double budget, const RunContext& ctx,
                   const train::Checkpointing& checkpointing)
    : impl_(std::make_unique<Impl>(backbone, tokenizer, task, space, options, budget, ctx, checkpointing)) {}

Searcher::~Searcher() = default;

SearchResult Searcher::run() { return impl_->run(); }

const SearchState& Searcher::state() const { return impl_->state; }

SearchResult run_search(model::T5Model backbone, const text::Tokenizer& tok, const data::TaskData& task,
                        const SpaceOptions& space, const SearchOptions& o, double budget, const RunContext& ctx,
                        const train::Checkpointing& ck) {
  return Searcher(backbone, tok, task, space, o, budget, ctx, ck).run();
}

}  // namespace bipeft::search
