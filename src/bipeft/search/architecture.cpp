#include "bipeft/search/architecture.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/search/gumbel.h"

namespace bipeft::search {

Architecture::Architecture(const std::vector<peft::PeftModulePtr>& searchable, const ArchitectureOptions& o,
                           at::Generator& gen)
    : iterative(o.iterative), full_rank_gradient_(o.rank_gradient_full), gumbel_(o.gumbel), rank_max_(o.ranks.back()) {
  candidates = o.ranks;
  if (!iterative) candidates.insert(candidates.begin(), 0);
  int64_t rows = 0;
  for (const auto& m : searchable) {
    SearchModule s;
    s.module = m;
    s.ranked = m->ranked();
    if (s.ranked) {
      if (m->rank_max() != rank_max_)
        throw ConfigError(m->id() + ": supernet module has rank " + std::to_string(m->rank_max()) + ", expected " +
                          std::to_string(rank_max_));
      s.beta_row = rows++;
      for (int64_t c : candidates) s.counts.push_back(static_cast<double>(m->param_count(c)));
    }
    s.full = static_cast<double>(m->param_count(m->rank_max()));
    modules.push_back(std::move(s));
    if (!gate_options_.has_device()) {
      const auto params = m->parameters();
      if (!params.empty()) gate_options_ = at::TensorOptions().device(params.front().device()).dtype(params.front().dtype());
    }
  }
  if (!gate_options_.has_device()) gate_options_ = at::TensorOptions().device(at::kCPU).dtype(at::kFloat);
  const int64_t n = static_cast<int64_t>(modules.size());
  const int64_t C = static_cast<int64_t>(candidates.size());
  alpha = at::empty({n, 2});
  alpha.normal_(0.0, o.init_std, gen);
  beta = at::empty({std::max<int64_t>(rows, 0), C});
  beta.normal_(0.0, o.init_std, gen);
  rank_gain_.assign(static_cast<size_t>(std::max<int64_t>(rows, 0)), 0.0);
  alpha.set_requires_grad(true);
  beta.set_requires_grad(true);
  tri_ = at::zeros({C, rank_max_});
  for (int64_t k = 0; k < C; ++k)
    if (candidates[k] > 0) tri_[k].narrow(0, 0, candidates[k]).fill_(1.0);
}

int64_t Architecture::candidate_index(size_t i) const {
  const auto& m = modules[i];
  if (!m.ranked) return -1;
  if (m.fixed) return m.fixed_index;
  return beta[m.beta_row].argmax().item<int64_t>();
}

int64_t Architecture::chosen_index(size_t i, double energy) const {
  const auto& m = modules[i];
  if (!m.ranked || m.fixed || !(energy > 0)) return candidate_index(i);
  const auto w = m.module->component_weights();
  if (w.empty()) return candidate_index(i);
  double total = 0;
  for (double x : w) total += x * x;
  if (!(total > 0) || !std::isfinite(total)) return candidate_index(i);
  for (size_t k = 0; k < candidates.size(); ++k) {
    double held = 0;
    for (int64_t c = 0; c < std::min<int64_t>(candidates[k], static_cast<int64_t>(w.size())); ++c) held += w[c] * w[c];
    if (candidates[k] > 0 && held >= energy * total) return static_cast<int64_t>(k);
  }
  return static_cast<int64_t>(candidates.size()) - 1;
}

void Architecture::fix_dimension_(size_t i) { fix_dimension_(i, candidate_index(i)); }

void Architecture::fix_dimension_(size_t i, int64_t index) {
  auto& m = modules[i];
  if (!m.ranked || m.fixed) return;
  if (index < 0 || index >= static_cast<int64_t>(candidates.size()))
    throw std::out_of_range("fix_dimension_: candidate " + std::to_string(index) + " of " + std::to_string(candidates.size()));
  m.fixed_index = index;
  m.fixed = true;
}

int64_t Architecture::current_rank(size_t i) const {
  const auto& m = modules[i];
  if (m.removed) return 0;
  return m.ranked ? candidates[candidate_index(i)] : 1;
}

double Architecture::current_params(size_t i) const {
  const auto& m = modules[i];
  if (m.removed) return 0.0;
  return m.ranked ? m.counts[candidate_index(i)] : m.full;
}

double Architecture::kept_params() const {
  double total = 0;
  for (size_t i = 0; i < modules.size(); ++i) total += current_params(i);
  return total;
}

std::vector<double> Architecture::on_probabilities() const {
  at::NoGradGuard ng;
  const auto p = at::softmax(alpha.detach().to(at::kDouble), -1).select(1, 1).contiguous();
  return std::vector<double>(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
}

std::vector<double> Architecture::expected_sizes(bool use_alpha) const {
  at::NoGradGuard ng;
  const auto p_on = on_probabilities();
  auto w = beta.numel() > 0 ? at::softmax(beta.detach().to(at::kDouble), -1).contiguous() : beta.to(at::kDouble);
  const int64_t C = static_cast<int64_t>(candidates.size());
  std::vector<double> out(modules.size(), 0.0);
  for (size_t i = 0; i < modules.size(); ++i) {
    const auto& m = modules[i];
    if (m.removed) continue;
    // The entangled ablation has no separate on/off choice for ranked modules.
    const double pi = (use_alpha && (!m.ranked || iterative)) ? p_on[i] : 1.0;
    if (!m.ranked) {
      out[i] = pi * m.full;
      continue;
    }
    double e = 0;
    if (m.fixed || !use_alpha) {
      // Fixed: the recorded rank. In the final phase (alpha ignored) an unfixed module counts at its
      // current argmax rank, so that E is the exact size of what the search would return (ours; the
      // softmax expectation of §8.1 overestimates it when beta later collapses to a small rank).
      e = m.counts[candidate_index(i)];
    } else {
      const double* row = w.data_ptr<double>() + m.beta_row * C;
      for (int64_t k = 0; k < C; ++k) e += row[k] * m.counts[k];
    }
    out[i] = pi * e;
  }
  return out;
}

std::vector<double> Architecture::dimension_values() const {
  std::vector<double> v;
  for (size_t i = 0; i < modules.size(); ++i)
    if (modules[i].ranked) v.push_back(static_cast<double>(current_rank(i)));
  return v;
}

std::vector<size_t> Architecture::free_ranked() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < modules.size(); ++i)
    if (modules[i].ranked && !modules[i].removed && !modules[i].fixed) out.push_back(i);
  return out;
}

bool Architecture::selected_by_logits(size_t i) const {
  const auto& m = modules[i];
  if (m.removed) return false;
  if (m.ranked && !iterative) return current_rank(i) > 0;
  return alpha[static_cast<int64_t>(i)][1].item<double>() > alpha[static_cast<int64_t>(i)][0].item<double>();
}

at::Tensor Architecture::regularizer(double weight) const {
  auto term = [](const at::Tensor& p) { return (at::softmax(p, -1) - p).abs().mean(); };
  auto r = term(alpha);
  if (beta.numel() > 0) r = r + term(beta);
  return weight * r;
}

void Architecture::discrete_gates_() {
  for (size_t i = 0; i < modules.size(); ++i) modules[i].module->set_gate(peft::Gate::fixed(current_rank(i)));
}

at::Tensor Architecture::rank_cost(double cost) const {
  if (!(cost > 0) || beta.numel() == 0) return {};
  std::vector<int64_t> rows;
  std::vector<double> norm;  // per free module: its counts / its largest count
  for (const auto& m : modules) {
    if (!m.ranked || m.removed || m.fixed) continue;
    rows.push_back(m.beta_row);
    const double top = *std::max_element(m.counts.begin(), m.counts.end());
    for (double c : m.counts) norm.push_back(top > 0 ? c / top : 0.0);
  }
  if (rows.empty()) return {};
  const auto C = static_cast<int64_t>(candidates.size());
  auto sizes = at::tensor(norm, beta.options().dtype(at::kDouble).requires_grad(false))
                   .view({static_cast<int64_t>(rows.size()), C})
                   .to(beta.scalar_type());
  auto p = at::softmax(beta.index_select(0, at::tensor(rows, at::TensorOptions(beta.device()).dtype(at::kLong))), -1);
  return cost * (p * sizes).sum();
}

at::Tensor Architecture::rank_price(double eps) {
  rank_price_used_ = at::Tensor();
  if (!(eps > 0) || !rank_sample_.defined()) return {};
  const int64_t C = static_cast<int64_t>(candidates.size());
  std::vector<double> price(static_cast<size_t>(rank_sample_.size(0) * C), 0.0);
  bool any = false;
  for (const auto& m : modules) {
    if (!m.ranked || m.removed || m.fixed) continue;
    const double lo = m.counts.front(), hi = m.counts.back();
    const double g = rank_gain_[static_cast<size_t>(m.beta_row)];
    if (!(hi > lo) || !(g > 0)) continue;
    for (int64_t k = 0; k < C; ++k) price[static_cast<size_t>(m.beta_row * C + k)] = eps * g * (m.counts[k] - lo) / (hi - lo);
    any = true;
  }
  if (!any) return {};
  rank_price_used_ = at::tensor(price, at::kDouble).view({rank_sample_.size(0), C}).to(rank_sample_.scalar_type());
  return (rank_sample_ * rank_price_used_).sum();
}

void Architecture::observe_rank_gradient_(bool price_in_loss) {
  if (!rank_sample_.defined() || !rank_sample_.grad().defined()) return;
  auto g = rank_sample_.grad().detach().to(at::kDouble).cpu();
  if (price_in_loss && rank_price_used_.defined()) g = g - rank_price_used_.to(at::kDouble);
  const auto range = (g.amax(-1) - g.amin(-1)).contiguous();
  const double* r = range.data_ptr<double>();
  for (const auto& m : modules) {
    if (!m.ranked || m.removed || m.fixed) continue;
    auto& gain = rank_gain_[static_cast<size_t>(m.beta_row)];
    const double x = r[m.beta_row];
    if (!std::isfinite(x)) continue;
    gain = gain > 0 ? 0.9 * gain + 0.1 * x : x;
  }
  rank_sample_ = at::Tensor();
  rank_price_used_ = at::Tensor();
}

void Architecture::restore_rank_gains(const std::vector<double>& gains) {
  if (gains.size() != rank_gain_.size())
    throw ConfigError("search state: " + std::to_string(gains.size()) + " rank gains for " +
                      std::to_string(rank_gain_.size()) + " ranked modules; resume with the original options");
  rank_gain_ = gains;
}

void Architecture::sample_gates_(Stage stage, double tau, at::Generator& gen, RankDraw draw) {
  rank_sample_ = at::Tensor();
  rank_price_used_ = at::Tensor();
  auto sample = [&](const at::Tensor& logits) {
    return gumbel_ ? hard_gumbel_softmax(logits, tau, gen) : at::softmax(logits, -1);
  };
  // Alpha sample: used by vector modules always and by ranked modules in the binary stage.
  auto a = sample(alpha);  // [N, 2], host
  auto a_on_values = a.select(1, 1).detach().contiguous();
  auto a_on = a.select(1, 1).to(gate_options_);  // the gates, on the modules' device
  at::Tensor m_all, r_graph, r_zero;
  const bool use_beta = !iterative || stage == Stage::Dimension;
  std::vector<int64_t> sel(beta.size(0), -1);
  if (use_beta && beta.numel() > 0) {
    auto r = sample(beta);  // [Nr, C]
    // Fixed dimensions use their recorded candidate, without gradient.
    std::vector<int64_t> fixed_rows, fixed_cols;
    for (const auto& m : modules)
      if (m.ranked && m.fixed) {
        fixed_rows.push_back(m.beta_row);
        fixed_cols.push_back(m.fixed_index);
      }
    if (!fixed_rows.empty()) {
      auto onehot = at::zeros_like(r);
      auto mask = at::zeros({r.size(0), 1});
      for (size_t k = 0; k < fixed_rows.size(); ++k) {
        onehot[fixed_rows[k]][fixed_cols[k]] = 1.0;
        mask[fixed_rows[k]][0] = 1.0;
      }
      r = at::where(mask.to(at::kBool), onehot, r);
    }
    if (gumbel_ && iterative && r.requires_grad()) {
      r.retain_grad();  // observe_rank_gradient_ reads dL/dy
      rank_sample_ = r;
    }
    m_all = at::matmul(r, tri_).to(gate_options_);  // [Nr, rank_max], on the modules' device
    r_graph = r.to(gate_options_);
    // Entangled space: a module is on unless candidate 0 (rank 0) was drawn; one host copy for all.
    if (!iterative) r_zero = r.detach().select(1, 0).to(at::kDouble).cpu().contiguous();
    auto idx = r.detach().argmax(-1).contiguous();
    for (int64_t k = 0; k < idx.numel(); ++k) sel[k] = idx.data_ptr<int64_t>()[k];
  }
  // Binary stage: the rank of each kept, unfixed ranked module (argmax beta, or a draw).
  std::vector<int64_t> drawn(sel.size(), -1);
  if (!use_beta && beta.numel() > 0 && draw != RankDraw::Argmax) {
    const int64_t C = static_cast<int64_t>(candidates.size());
    auto u = at::empty({beta.size(0)}, at::kDouble).uniform_(0.0, 1.0, gen).contiguous();
    at::Tensor probs;
    if (draw == RankDraw::Beta) probs = at::softmax(beta.detach().to(at::kDouble), -1).cpu().contiguous();
    // The candidate a uniform number y in [0, 1) picks with equal chances.
    auto uniform_index = [C](double y) { return std::min<int64_t>(C - 1, static_cast<int64_t>(y * static_cast<double>(C))); };
    for (int64_t row = 0; row < beta.size(0); ++row) {
      const double x = u.data_ptr<double>()[row];
      if (draw == RankDraw::Uniform) {
        drawn[row] = uniform_index(x);
      } else if (draw == RankDraw::Sandwich) {
        // x in [0, 1/2): the largest; [1/2, 1): uniform over every candidate (one uniform number).
        drawn[row] = x < 0.5 ? C - 1 : uniform_index(2.0 * x - 1.0);
      } else {
        const double* p = probs.data_ptr<double>() + row * C;
        double acc = 0;
        drawn[row] = C - 1;
        for (int64_t k = 0; k < C; ++k)
          if (x < (acc += p[k])) {
            drawn[row] = k;
            break;
          }
      }
    }
  }
  sampled_on_.assign(modules.size(), 0.0);
  sampled_rank_.assign(sel.size(), -1);
  for (size_t i = 0; i < modules.size(); ++i) {
    auto& m = modules[i];
    if (m.removed) {
      m.module->set_gate(peft::Gate::fixed(0));
      continue;
    }
    const int64_t ii = static_cast<int64_t>(i);
    peft::Gate g;
    if (!m.ranked || !use_beta) {
      auto on = a_on.select(0, ii);
      const bool is_on = a_on_values.data_ptr<float>()[i] > 0.5f;
      sampled_on_[i] = gumbel_ ? (is_on ? 1.0 : 0.0) : static_cast<double>(a_on_values.data_ptr<float>()[i]);
      if (!m.ranked) {
        g.rank = gumbel_ ? (is_on ? 1 : 0) : 1;
        g.on = on;
      } else {
        const int64_t k = m.fixed || drawn[m.beta_row] < 0 ? candidate_index(i) : drawn[m.beta_row];
        const int64_t d = candidates[k];
        if (!gumbel_ || is_on) sampled_rank_[m.beta_row] = k;
        g.rank = gumbel_ ? (is_on ? d : 0) : d;
        g.mask = on.expand({d});
        if (!gumbel_) g.up = on.detach().expand({d});
        g.on = on;
      }
    } else {
      sampled_on_[i] = iterative ? 1.0 : 1.0 - r_zero.data_ptr<double>()[m.beta_row];
      auto row = m_all.select(0, m.beta_row);  // [rank_max]
      if (gumbel_) {
        const int64_t d = candidates[sel[m.beta_row]];
        sampled_rank_[m.beta_row] = sel[m.beta_row];
        if (full_rank_gradient_ && d > 0 && m.module->zero_mask_is_absent()) {
          // The whole rank_max slice behind the sample's 0/1 mask: the same output as rank d, and
          // beta's larger candidates get the gradient of the components above d (ours).
          g.rank = rank_max_;
          g.effective_rank = d;
          g.mask = row;
        } else {
          g.rank = d;
          if (d > 0) g.mask = row.narrow(0, 0, d);
        }
      } else {
        g.rank = rank_max_;
        g.mask = row;
        g.up = row.detach();
      }
      // On-value: the weight of the non-zero candidates. In the iterative space it is 1 (all
      // candidates are non-zero), so biases run ungated; in the entangled space it is 1 - r[0].
      if (!iterative) g.on = 1.0 - r_graph.select(0, m.beta_row).select(0, 0);
    }
    m.module->set_gate(std::move(g));
  }
}

peft::Structure Architecture::final_structure(const peft::Structure& base) const {
  peft::Structure s;
  s.options = base.options;
  s.full_finetune = false;
  for (size_t i = 0; i < modules.size(); ++i) {
    const auto& m = modules[i];
    if (m.removed) continue;
    const int64_t r = current_rank(i);
    if (r == 0) continue;
    s.modules.push_back({m.module->site_name(), m.module->method(), m.ranked ? r : 1});
  }
  return s;
}

}  // namespace bipeft::search
