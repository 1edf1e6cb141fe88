#include "bipeft/search/planted.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "bipeft/core/error.h"
#include "bipeft/core/timer.h"
#include "bipeft/data/collate.h"
#include "bipeft/data/splits.h"
#include "bipeft/model/generate.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/search/searcher.h"
#include "bipeft/train/trainer.h"

namespace bipeft::search {

namespace {
// "<site>:<method>", the id PeftModule::id() gives the same module.
std::string spec_id(const peft::ModuleSpec& m) { return m.site + ":" + m.method; }
}  // namespace

void PlantedOptions::validate() const {
  const auto bad = [](const char* field, const std::string& rule) { throw OptionError("PlantedOptions", field, rule); };
  if (!(delta_scale > 0)) bad("delta_scale", "must be positive");
  if (target_tokens < 1) bad("target_tokens", "must be at least 1");
  if (balance_rounds < 0) bad("balance_rounds", "must be >= 0");
  if (max_sentences < 8) bad("max_sentences", "must be at least 8");
  if (!(heldout_fraction > 0 && heldout_fraction < 1)) bad("heldout_fraction", "must be in (0, 1)");
  if (target != "logits" && target != "greedy") bad("target", "must be logits or greedy, got '" + target + "'");
  space.validate();
  search.validate();
  train.validate();
}

std::vector<peft::ModuleSpec> default_planted(const std::vector<model::SiteInfo>& sites) {
  int64_t enc_blocks = 0, dec_blocks = 0;
  for (const auto& s : sites) {
    if (s.block < 0) continue;
    (s.decoder ? dec_blocks : enc_blocks) = std::max(s.decoder ? dec_blocks : enc_blocks, s.block + 1);
  }
  auto find = [&](bool decoder, int64_t block, std::vector<std::string> positions) -> std::string {
    for (const auto& p : positions)
      for (const auto& s : sites)
        if (s.decoder == decoder && s.block == block && s.position == p && s.kind == model::SiteKind::Linear)
          return s.name;
    throw ConfigError("planted: the backbone has no " + positions.front() + " projection in block " +
                      std::to_string(block));
  };
  const int64_t e_last = std::max<int64_t>(0, enc_blocks - 1), d_last = std::max<int64_t>(0, dec_blocks - 1);
  return {{find(false, 0, {"q"}), "lora", 8},
          {find(false, e_last, {"wi", "wi_0"}), "lora", 4},
          {find(true, 0, {"v"}), "lora", 8},
          {find(true, d_last, {"wo"}), "lora", 4}};
}

nlohmann::json PlantedReport::to_json() const {
  return {{"planted", planted.to_json()},
          {"found", found.to_json()},
          {"random", random.to_json()},
          {"params", {{"planted", planted_params}, {"found", found_params}, {"random", random_params}}},
          {"recovery",
           {{"precision", precision},
            {"recall", recall},
            {"f1", f1},
            {"rank_accuracy", rank_accuracy},
            {"beta_rank_accuracy", beta_rank_accuracy},
            {"sublayer", {{"precision", sublayer_precision}, {"recall", sublayer_recall}, {"f1", sublayer_f1}}}}},
          {"heldout_loss",
           {{"found", loss_found}, {"oracle", loss_oracle}, {"random", loss_random}, {"backbone", loss_backbone}}},
          {"target", target},
          {"warnings", warnings},
          {"planted_effects", [&] {
             nlohmann::json j = nlohmann::json::array();
             for (size_t i = 0; i < planted_effects.size(); ++i) {
               j.push_back({{"module", planted_effects[i].first}, {"kl_without", planted_effects[i].second}});
               if (i < planted_scales.size()) j.back()["scale"] = planted_scales[i];
             }
             return j;
           }()},
          {"targets_changed", targets_changed},
          {"sentences", {{"train", train_sentences}, {"heldout", heldout_sentences}}},
          {"seconds", {{"search", search_seconds}, {"train", train_seconds}}},
          {"search", search}};
}

void check_planted_in_space(const peft::Structure& planted, const SpaceOptions& space_options,
                            const std::vector<int64_t>& ranks, const std::vector<model::SiteInfo>& sites) {
  SpaceOptions so = space_options;
  so.ranks = ranks;
  const auto space = build_space(so, sites);
  for (const auto& m : planted.modules) {
    bool found = false;
    for (const auto& c : space.modules) found = found || (c.site == m.site && c.method == m.method);
    if (!found)
      throw ConfigError("planted module " + spec_id(m) + " is not in the search space '" +
                        space_options.space + "', so no search could recover it; plant inside the space or widen SpaceOptions.space");
    if (std::find(ranks.begin(), ranks.end(), m.rank) == ranks.end())
      throw ConfigError("planted module " + spec_id(m) + " has rank " + std::to_string(m.rank) +
                        ", not one of the candidate ranks (SpaceOptions.ranks); rank accuracy would be impossible");
  }
}

void score_recovery(const peft::Structure& truth, const peft::Structure& found, PlantedReport& r) {
  int64_t tp = 0, same_rank = 0;
  for (const auto& t : truth.modules)
    for (const auto& f : found.modules)
      if (spec_id(t) == spec_id(f)) {
        ++tp;
        same_rank += t.rank == f.rank ? 1 : 0;
      }
  r.precision = found.modules.empty() ? 0.0 : static_cast<double>(tp) / static_cast<double>(found.modules.size());
  r.recall = truth.modules.empty() ? 0.0 : static_cast<double>(tp) / static_cast<double>(truth.modules.size());
  r.f1 = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0.0;
  r.rank_accuracy = tp > 0 ? static_cast<double>(same_rank) / static_cast<double>(tp) : 0.0;
  // Sublayer level: the site name without its last component, plus the method; each counted once.
  auto sublayers = [](const peft::Structure& s) {
    std::set<std::string> out;
    for (const auto& m : s.modules) {
      const auto dot = m.site.rfind('.');
      out.insert((dot == std::string::npos ? m.site : m.site.substr(0, dot)) + ":" + m.method);
    }
    return out;
  };
  const auto ts = sublayers(truth), fs = sublayers(found);
  int64_t hit = 0;
  for (const auto& k : fs) hit += ts.count(k) ? 1 : 0;
  r.sublayer_precision = fs.empty() ? 0.0 : static_cast<double>(hit) / static_cast<double>(fs.size());
  r.sublayer_recall = ts.empty() ? 0.0 : static_cast<double>(hit) / static_cast<double>(ts.size());
  r.sublayer_f1 = r.sublayer_precision + r.sublayer_recall > 0
                      ? 2 * r.sublayer_precision * r.sublayer_recall / (r.sublayer_precision + r.sublayer_recall)
                      : 0.0;
}

// Distillation: mean over target tokens of KL(teacher || student) on the vocabulary, both fed the
// labels shifted right. Zero exactly when the student reproduces the teacher's distributions.
train::BatchObjective distillation_objective(model::T5Model teacher) {
  return [teacher](model::T5ModelImpl& student, const data::Batch& b) {
    const auto device = student.shared->weight.device();
    const auto ids = b.input_ids.to(device), mask = b.attention_mask.to(device), labels = b.labels.to(device);
    const auto dec = student.shift_right(labels);
    at::Tensor t_logp;
    {
      at::NoGradGuard ng;
      t_logp = at::log_softmax(teacher.ptr()->forward(ids, mask, dec).logits, -1);
    }
    const auto s_logp = at::log_softmax(student.forward(ids, mask, dec).logits, -1);
    const auto kl = (t_logp.exp() * (t_logp - s_logp)).sum(-1);
    const auto keep = labels.ne(data::kLabelPad).to(kl.scalar_type());
    return (kl * keep).sum() / keep.sum().clamp_min(1.0);
  };
}

namespace {

// Mean loss per target token of `data` (teacher-forced on its labels) under `objective`.
double heldout_loss(model::T5ModelImpl& backbone, const std::vector<data::TokenizedExample>& data, int64_t pad_id,
                    const train::BatchObjective& objective) {
  at::NoGradGuard ng;
  const bool was_training = backbone.is_training();
  backbone.train(false);
  double total = 0, tokens = 0;
  for (const auto& idx : data::epoch_batches(data.size(), 32, 0, 0, /*shuffle=*/false)) {
    auto b = data::make_batch(data, idx, pad_id);
    const double n = b.labels.ne(-100).sum().item<double>();
    total += train::objective_loss(objective, backbone, b).item<double>() * n;
    tokens += n;
  }
  backbone.train(was_training);
  return tokens > 0 ? total / tokens : 0.0;
}

// A second backbone with the same configuration and weights (the teacher keeps its delta attached
// while the student's modules come and go on the original).
model::T5Model copy_backbone(model::T5ModelImpl& backbone) {
  model::T5Model copy(backbone.config);
  at::NoGradGuard ng;
  auto dst = copy->named_parameters(/*recurse=*/true);
  for (const auto& kv : backbone.named_parameters(/*recurse=*/true)) dst[kv.key()].copy_(kv.value());
  auto dst_buffers = copy->named_buffers(/*recurse=*/true);
  for (const auto& kv : backbone.named_buffers(/*recurse=*/true)) dst_buffers[kv.key()].copy_(kv.value());
  copy->to(backbone.shared->weight.device());
  for (auto& p : copy->parameters()) p.set_requires_grad(false);
  copy->train(false);
  return copy;
}

// Greedy outputs of `backbone` (with whatever is attached) as text, one per example.
std::vector<std::string> greedy_texts(model::T5ModelImpl& backbone, const text::Tokenizer& tok,
                                      const std::vector<data::TokenizedExample>& data, int64_t n_tokens) {
  at::NoGradGuard ng;
  backbone.train(false);
  const auto device = backbone.shared->weight.device();
  std::vector<std::string> out;
  for (const auto& idx : data::epoch_batches(data.size(), 32, 0, 0, /*shuffle=*/false)) {
    auto b = data::make_batch(data, idx, tok.pad_id());
    auto ids = model::greedy_generate(backbone, b.input_ids.to(device), b.attention_mask.to(device), n_tokens)
                   .to(at::kCPU)
                   .contiguous();
    for (int64_t r = 0; r < ids.size(0); ++r) {
      const int64_t* row = ids[r].data_ptr<int64_t>();
      out.push_back(tok.decode(std::vector<int64_t>(row + 1, row + ids.size(1))));
    }
  }
  return out;
}

// KL(teacher || teacher without module i) on `data` for every planted module i, measured on the
// student backbone carrying a copy of the rest of the teacher's delta.
std::vector<double> planted_effects(model::T5Model backbone, peft::PeftModel& teacher, model::T5Model teacher_backbone,
                                    const peft::Structure& planted, const std::vector<data::TokenizedExample>& data,
                                    int64_t pad_id) {
  const auto kl = distillation_objective(teacher_backbone);
  std::vector<double> out;
  for (size_t i = 0; i < planted.modules.size(); ++i) {
    peft::Structure rest = planted;
    rest.modules.erase(rest.modules.begin() + static_cast<std::ptrdiff_t>(i));
    if (rest.modules.empty()) {
      out.push_back(heldout_loss(*backbone, data, pad_id, kl));
      continue;
    }
    peft::PeftModel ablated(backbone, rest, 0);
    {
      at::NoGradGuard ng;
      for (const auto& m : ablated->modules) {
        auto src = teacher->find(m->id())->parameters(), dst = m->parameters();
        for (size_t k = 0; k < dst.size(); ++k) dst[k].copy_(src[k]);
      }
    }
    out.push_back(heldout_loss(*backbone, data, pad_id, kl));
    ablated->detach_();
  }
  return out;
}

// Modules of the space drawn in random order at random candidate ranks, added while they fit.
peft::Structure random_structure(model::T5Model backbone, const peft::Structure& space, const std::vector<int64_t>& ranks,
                                 double budget, uint64_t seed) {
  peft::PeftModel supernet(backbone, space, seed);
  std::vector<peft::PeftModulePtr> candidates;
  for (const auto& m : supernet->modules)
    if (m->prunable()) candidates.push_back(m);
  std::mt19937_64 rng(seed);
  std::shuffle(candidates.begin(), candidates.end(), rng);
  peft::Structure s;
  s.options = space.options;
  double acc = 0;
  for (const auto& m : candidates) {
    const int64_t rank = m->ranked() ? ranks[std::uniform_int_distribution<size_t>(0, ranks.size() - 1)(rng)] : 1;
    const double n = static_cast<double>(m->param_count(rank));
    if (acc + n > budget) continue;
    acc += n;
    s.modules.push_back({m->site_name(), m->method(), rank});
  }
  return s;
}

}  // namespace

void plant_equal_singular_values_(peft::PeftModule& m, double scale, at::Generator& gen) {
  auto named = m.named_parameters(/*recurse=*/false);
  if (!named.contains("A") || !named.contains("B")) return;
  auto a = named["A"], b = named["B"];  // delta = B [out, r] . A [r, in]
  const int64_t r = a.size(0), in = a.size(1), out = b.size(0);
  if (a.dim() != 2 || b.dim() != 2 || b.size(1) != r || r > in || r > out) return;
  // The Frobenius norm of the random N(0, (scale/sqrt(fan_in))^2) factors' product in expectation,
  // out * scale^4, spread over r equal singular values.
  const double sigma = scale * scale * std::sqrt(static_cast<double>(out) / static_cast<double>(r));
  auto qa = std::get<0>(at::linalg_qr(at::empty({in, r}, at::kDouble).normal_(0.0, 1.0, gen)));   // [in, r]
  auto qb = std::get<0>(at::linalg_qr(at::empty({out, r}, at::kDouble).normal_(0.0, 1.0, gen)));  // [out, r]
  at::NoGradGuard ng;
  a.copy_((std::sqrt(sigma) * qa.t()).to(a.scalar_type()));
  b.copy_((std::sqrt(sigma) * qb).to(b.scalar_type()));
}

void scale_delta_(peft::PeftModule& m, double factor) {
  at::NoGradGuard ng;
  auto named = m.named_parameters(/*recurse=*/false);
  if (named.contains("A") && named.contains("B")) {
    named["B"].mul_(factor);
    return;
  }
  for (auto& p : m.parameters()) p.mul_(factor);
}

namespace {

// Rescales the teacher's planted deltas until each one's effect (KL without it, on `data`) is within
// 2x of the effects' geometric mean, or `rounds` rounds have passed. KL grows about with the square of
// a small delta, so each round multiplies a delta by sqrt(mean / effect); a module's factor stays
// within [1/8, 8] in all. Returns the factors, in planted order.
std::vector<double> balance_planted_effects(model::T5Model backbone, peft::PeftModel& teacher,
                                            model::T5Model teacher_backbone, const peft::Structure& planted,
                                            const std::vector<data::TokenizedExample>& data, int64_t pad_id,
                                            int64_t rounds) {
  std::vector<double> factors(planted.modules.size(), 1.0);
  if (planted.modules.size() < 2) return factors;
  for (int64_t round = 0; round < rounds; ++round) {
    const auto effects = planted_effects(backbone, teacher, teacher_backbone, planted, data, pad_id);
    double log_sum = 0;
    for (double e : effects) log_sum += std::log(std::max(e, 1e-12));
    const double mean = std::exp(log_sum / static_cast<double>(effects.size()));
    bool balanced = true;
    for (double e : effects) balanced = balanced && e <= 2 * mean && e >= 0.5 * mean;
    if (balanced) break;
    for (size_t i = 0; i < effects.size(); ++i) {
      const double wanted = std::sqrt(mean / std::max(effects[i], 1e-12));
      const double next = std::clamp(factors[i] * wanted, 1.0 / 8, 8.0);
      scale_delta_(*teacher->find(spec_id(planted.modules[i])), next / factors[i]);
      factors[i] = next;
    }
  }
  return factors;
}

}  // namespace

PlantedReport run_planted_benchmark(model::T5Model backbone, const text::Tokenizer& tok,
                                    const std::vector<std::string>& sentences, const PlantedOptions& o,
                                    const RunContext& ctx) {
  o.validate();
  if (sentences.size() < 8) throw ConfigError("planted: need at least 8 sentences, got " + std::to_string(sentences.size()));
  PlantedReport report;
  report.target = o.target;
  report.planted.modules = o.planted.empty() ? default_planted(backbone->sites()) : o.planted;
  report.planted.validate(backbone->sites(), "planted structure");
  check_planted_in_space(report.planted, o.space, o.search.ranks, backbone->sites());
  for (auto& p : backbone->parameters()) p.set_requires_grad(false);

  // Inputs: real sentences, truncated like a GLUE source.
  const size_t n = std::min<size_t>(sentences.size(), static_cast<size_t>(o.max_sentences));
  std::vector<data::Example> inputs;
  for (size_t i = 0; i < n; ++i) inputs.push_back(data::make_example(sentences[i], ""));
  auto input_tok = data::tokenize_examples(tok, inputs, 128, 1);

  // Targets: the teacher's greedy outputs; the backbone's own outputs tell how much the delta matters.
  const auto base_out = greedy_texts(*backbone, tok, input_tok, o.target_tokens);
  auto teacher_backbone = copy_backbone(*backbone);
  peft::PeftModel teacher(teacher_backbone, report.planted, data::derive_seed(ctx.seed, 101));
  report.planted_params = static_cast<double>(teacher->trainable_count());
  {
    at::NoGradGuard ng;
    auto gen = at::detail::createCPUGenerator(data::derive_seed(ctx.seed, 102));
    for (auto& p : teacher->trainable_parameters()) {
      const double stdev = o.delta_scale / std::sqrt(static_cast<double>(std::max<int64_t>(1, p.size(-1))));
      p.copy_(at::empty(p.sizes(), at::kFloat).normal_(0.0, stdev, gen));
    }
    // A low-rank delta B.A of rank r gets r equal singular values, so that its rank is well defined:
    // truncating it to k < r components loses (r - k) / r of it, and keeping more gains nothing.
    for (const auto& m : teacher->modules) plant_equal_singular_values_(*m, o.delta_scale, gen);
  }
  if (o.balance_effects && o.balance_rounds > 0 && report.planted.modules.size() > 1) {
    // Calibrated on the first sentences, teacher-forced on the unbalanced teacher's greedy tokens.
    const size_t n_cal = std::min<size_t>(n, 256);
    const std::vector<data::TokenizedExample> cal_inputs(input_tok.begin(), input_tok.begin() + static_cast<std::ptrdiff_t>(n_cal));
    const auto first_out = greedy_texts(*teacher_backbone, tok, cal_inputs, o.target_tokens);
    std::vector<data::Example> cal;
    for (size_t i = 0; i < n_cal; ++i) cal.push_back(data::make_example(inputs[i].source, first_out[i]));
    const auto cal_tok = data::tokenize_examples(tok, cal, 128, o.target_tokens + 4);
    report.planted_scales = balance_planted_effects(backbone, teacher, teacher_backbone, report.planted, cal_tok,
                                                    tok.pad_id(), o.balance_rounds);
  } else {
    report.planted_scales.assign(report.planted.modules.size(), 1.0);
  }
  const auto teacher_out = greedy_texts(*teacher_backbone, tok, input_tok, o.target_tokens);
  const train::BatchObjective objective = o.target == "logits" ? distillation_objective(teacher_backbone) : train::BatchObjective{};
  int64_t changed = 0;
  for (size_t i = 0; i < n; ++i) changed += teacher_out[i] != base_out[i] ? 1 : 0;
  report.targets_changed = static_cast<double>(changed) / static_cast<double>(n);

  data::TaskData task;
  task.name = "planted";
  task.max_source_length = 128;
  task.max_target_length = o.target_tokens + 4;
  task.metrics = {"accuracy"};
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(data::derive_seed(ctx.seed, 103)));
  const size_t n_held = std::max<size_t>(1, static_cast<size_t>(o.heldout_fraction * static_cast<double>(n)));
  std::vector<data::Example> heldout;
  for (size_t k = 0; k < n; ++k) {
    auto e = data::make_example(inputs[order[k]].source, teacher_out[order[k]]);
    (k < n_held ? heldout : task.train).push_back(std::move(e));
  }
  for (size_t k = 0; k + 1 < task.train.size(); k += 2) {
    task.search_train.push_back(task.train[k]);
    task.search_val.push_back(task.train[k + 1]);
  }
  report.train_sentences = static_cast<int64_t>(task.train.size());
  report.heldout_sentences = static_cast<int64_t>(heldout.size());
  const auto held_tok = data::tokenize_examples(tok, heldout, task.max_source_length, task.max_target_length);
  report.loss_backbone = heldout_loss(*backbone, held_tok, tok.pad_id(), objective);
  // Each planted module's own effect: the teacher's delta without it, against the whole teacher.
  {
    const auto effects = planted_effects(backbone, teacher, teacher_backbone, report.planted, held_tok, tok.pad_id());
    for (size_t i = 0; i < effects.size(); ++i) {
      const auto& m = report.planted.modules[i];
      report.planted_effects.emplace_back(spec_id(m), effects[i]);
      ctx.info("planted: without " + spec_id(m) + " the teacher's held-out KL is " + std::to_string(effects[i]) +
               " (delta scaled by " + std::to_string(report.planted_scales[i]) + ")");
    }
    const double top = effects.empty() ? 0.0 : *std::max_element(effects.begin(), effects.end());
    for (const auto& [id, kl] : report.planted_effects)
      if (kl < 0.1 * top)
        report.warnings.push_back("planted module " + id + " hardly shows in the teacher's outputs (KL without it " +
                                  std::to_string(kl) + ", the largest module's " + std::to_string(top) +
                                  "): a search cannot be expected to recover it; plant it elsewhere or larger");
    for (const auto& w : report.warnings) ctx.warn(w);
  }
  ctx.info("planted: " + std::to_string(report.planted.modules.size()) + " modules, " +
           std::to_string(static_cast<int64_t>(report.planted_params)) + " parameters; teacher differs from the backbone on " +
           std::to_string(changed) + " of " + std::to_string(n) + " sentences");

  // The search, with the planted parameter count as budget.
  Timer search_timer;
  auto search_options = o.search;
  search_options.objective = objective;
  auto result = run_search(backbone, tok, task, o.space, search_options, report.planted_params, ctx);
  report.search_seconds = search_timer.seconds();
  report.found = result.structure;
  report.search = result.to_json();
  {
    PlantedReport beta_only;  // beta's own ranks on the same modules
    score_recovery(report.planted, result.beta_structure, beta_only);
    report.beta_rank_accuracy = beta_only.rank_accuracy;
  }
  score_recovery(report.planted, report.found, report);

  SpaceOptions so = o.space;
  so.ranks = o.search.ranks;
  report.random = random_structure(backbone, build_space(so, backbone->sites()), so.ranks, report.planted_params,
                                   data::derive_seed(ctx.seed, 105));
  if (!o.train_structures) {
    report.loss_found = report.loss_oracle = report.loss_random = NAN;
    report.found_params = result.params;
    report.random_params = NAN;
    ctx.event({{"event", "done"}, {"report", report.to_json()}});
    return report;
  }
  // Train each structure from scratch with the same options and seed; compare held-out losses.
  Timer train_timer;
  auto train_and_score = [&](const peft::Structure& s, double* params) {
    if (s.modules.empty()) {
      *params = 0;
      return report.loss_backbone;
    }
    peft::PeftModel pm(backbone, s, data::derive_seed(ctx.seed, 104));
    *params = static_cast<double>(pm->trainable_count());
    auto opts = o.train;
    opts.eval_test = false;
    opts.objective = objective;
    train::train_model(*pm, tok, task, opts, ctx);
    return heldout_loss(*backbone, held_tok, tok.pad_id(), objective);
  };
  double unused = 0;
  report.loss_oracle = train_and_score(report.planted, &unused);
  report.loss_found = train_and_score(report.found, &report.found_params);
  report.loss_random = train_and_score(report.random, &report.random_params);
  report.train_seconds = train_timer.seconds();
  ctx.event({{"event", "done"}, {"report", report.to_json()}});
  return report;
}

}  // namespace bipeft::search
