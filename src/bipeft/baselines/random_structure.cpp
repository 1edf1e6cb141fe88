#include "bipeft/baselines/random_structure.h"

#include <random>

#include "bipeft/core/random.h"
#include "bipeft/core/timer.h"
#include "bipeft/data/splits.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/search/search_data.h"

namespace bipeft::baselines {


search::SearchResult random_structure(model::T5Model backbone, const search::SpaceOptions& space_options,
                                      const search::SearchOptions& o, double budget, const RunContext& ctx) {
  o.validate();
  Timer timer;
  auto net = search::build_supernet(backbone, space_options, o.ranks, ctx.seed, budget);
  const auto& space = net.space;
  const auto& modules = net.modules;
  const auto& sizes = net.sizes;
  search::SearchResult result;
  result.budget = budget;
  result.space_params = sizes.whole;

  std::mt19937_64 rng(data::derive_seed(ctx.seed, 0x72616e64));
  std::vector<size_t> order(modules.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  shuffle_in_place(order, rng);
  std::vector<int64_t> ranks(modules.size(), 0);
  // A prefix module brings the shared prefix parameters with it; count them up front when the space
  // has any, so the final structure never exceeds the budget.
  double used = sizes.shared;
  for (size_t i : order) {
    const auto& m = modules[i];
    std::vector<int64_t> fits;
    for (int64_t r : m->ranked() ? o.ranks : std::vector<int64_t>{1})
      if (used + static_cast<double>(m->param_count(r)) <= budget) fits.push_back(r);
    if (fits.empty()) continue;
    ranks[i] = fits[uniform_below(rng, fits.size())];
    used += static_cast<double>(m->param_count(ranks[i]));
  }
  auto chosen = search::select_modules(modules, ranks, space, sizes.shared);
  result.structure = std::move(chosen.structure);
  result.params = chosen.params;
  result.completed = true;
  result.seconds = timer.seconds();
  net.model->detach_();
  ctx.event({{"event", "done"}, {"method", "random"}, {"result", result.to_json()},
             {"structure", result.structure.to_json()}});
  return result;
}

}  // namespace bipeft::baselines
