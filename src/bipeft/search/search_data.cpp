#include "bipeft/search/search_data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/data/splits.h"
#include "bipeft/peft/methods.h"
#include "bipeft/train/objective.h"

namespace bipeft::search {

namespace {

std::string count(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f", v);
  return b;
}

}  // namespace

void SpaceSizes::check_budget(double budget) const {
  if (budget < smallest + shared)
    throw OptionError("SearchRequest", "budget",
                      count(budget) + " parameters is below the smallest module of the space (" +
                          count(smallest + shared) + " parameters); raise the budget or change the space or its ranks");
  if (budget >= whole)
    throw OptionError("SearchRequest", "budget",
                      count(budget) + " parameters covers the whole search space (" + count(whole) +
                          " parameters); nothing to select: lower the budget or train the space directly");
}

std::vector<peft::PeftModulePtr> prunable_modules(const peft::PeftModelImpl& supernet) {
  std::vector<peft::PeftModulePtr> out;
  for (const auto& m : supernet.modules)
    if (m->prunable()) out.push_back(m);
  return out;
}

SpaceSizes space_sizes(const peft::PeftModelImpl& supernet, const std::vector<int64_t>& ranks) {
  SpaceSizes s;
  s.smallest = INFINITY;
  for (const auto& m : supernet.modules) {
    const double full = static_cast<double>(m->param_count(m->rank_max()));
    if (!m->prunable()) {
      s.shared += full;
      continue;
    }
    s.whole += full;
    double least = full;
    if (m->ranked())
      for (int64_t r : ranks)
        if (r > 0 && r <= m->rank_max()) least = std::min(least, static_cast<double>(m->param_count(r)));
    s.smallest = std::min(s.smallest, least);
  }
  s.whole += s.shared;
  return s;
}

Selection select_modules(const std::vector<peft::PeftModulePtr>& modules, const std::vector<int64_t>& ranks,
                         const peft::Structure& base, double shared) {
  if (ranks.size() != modules.size())
    throw ConfigError("select_modules: " + std::to_string(ranks.size()) + " ranks for " +
                      std::to_string(modules.size()) + " modules");
  Selection s;
  s.structure.options = base.options;
  bool has_shared = false;
  for (size_t i = 0; i < modules.size(); ++i) {
    if (ranks[i] <= 0) continue;
    const auto& m = modules[i];
    const int64_t r = m->ranked() ? ranks[i] : 1;
    s.structure.modules.push_back({m->site_name(), m->method(), r});
    s.params += static_cast<double>(m->param_count(r));
    has_shared = has_shared || peft::uses_shared_params(m->method());
  }
  if (has_shared) s.params += shared;
  return s;
}

Supernet build_supernet(model::T5Model backbone, const SpaceOptions& space, const std::vector<int64_t>& ranks,
                        uint64_t seed, double budget) {
  SpaceOptions so = space;
  so.ranks = ranks;
  Supernet s;
  s.space = build_space(so, backbone->sites());
  s.model = peft::PeftModel(backbone, s.space, seed);
  s.modules = prunable_modules(*s.model);
  s.sizes = space_sizes(*s.model, ranks);
  s.sizes.check_budget(budget);
  return s;
}

SpaceSizes measure_space(model::T5Model backbone, const SpaceOptions& space, const std::vector<int64_t>& ranks) {
  SpaceOptions so = space;
  so.ranks = ranks;
  peft::PeftModel supernet(backbone, build_space(so, backbone->sites()), 0);
  auto sizes = space_sizes(*supernet, ranks);
  supernet->detach_();
  return sizes;
}

SearchHalves tokenize_search_halves(const text::Tokenizer& tok, const data::TaskData& task, int64_t max_train) {
  auto w = data::first_n(task.search_train, max_train > 0 ? max_train / 2 : 0);
  auto a = data::first_n(task.search_val, max_train > 0 ? max_train / 2 : 0);
  if (w.empty() || a.empty()) throw FormatError(task.name + ": the search halves of train are empty");
  const int64_t tgt_len = data::max_target_length(tok, task);
  return {data::tokenize_examples(tok, w, task.max_source_length, tgt_len),
          data::tokenize_examples(tok, a, task.max_source_length, tgt_len)};
}

at::Tensor batch_loss(model::T5ModelImpl& model, const std::vector<data::TokenizedExample>& examples,
                      const std::vector<size_t>& idx, int64_t pad_id) {
  return train::objective_loss({}, model, data::make_batch(examples, idx, pad_id));
}

at::Tensor batch_loss(const dist::DataParallel& dp, model::T5ModelImpl& model,
                      const std::vector<data::TokenizedExample>& examples, const std::vector<size_t>& idx,
                      int64_t pad_id) {
  return dp.shard_loss(examples, idx, [&](const std::vector<size_t>& rows) { return batch_loss(model, examples, rows, pad_id); });
}

double checked_loss(const at::Tensor& loss, const std::string& which, int64_t step) {
  return checked_loss(loss.item<double>(), which, step);
}

double checked_loss(double v, const std::string& which, int64_t step) {
  if (!std::isfinite(v))
    throw NumericError(which + " loss is " + std::to_string(v) + " at step " + std::to_string(step) +
                       "; lower SearchOptions.lr / SearchOptions.arch_lr or check the data");
  return v;
}

}  // namespace bipeft::search
