#include "bipeft/peft/methods.h"

#include <algorithm>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/peft/adapter_lr.h"
#include "bipeft/peft/bitfit.h"
#include "bipeft/peft/bottleneck_adapter.h"
#include "bipeft/peft/lnfit.h"
#include "bipeft/peft/lora.h"

namespace bipeft::peft {

namespace {

using model::SiteKind;

const std::vector<std::string> kLinear = {"q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo",
                                          "cross_q", "cross_k", "cross_v", "cross_o"};
const std::vector<std::string> kNorms = {"attn_ln", "ffn_ln", "cross_ln", "final_ln"};
const std::vector<std::string> kSublayers = {"attn", "ffn", "cross"};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool is_cross(const std::string& position) { return starts_with(position, "cross"); }

}  // namespace

const std::vector<MethodInfo>& methods() {
  static const std::vector<MethodInfo> table = {
      {"lora", {SiteKind::Linear}, true, kLinear, {"q", "v"}, 8, "low-rank update of a linear layer", "s2",
       {"q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"}, {"cross_q", "cross_k", "cross_v", "cross_o"}},
      {"adapter_lr", {SiteKind::Sublayer}, true, kSublayers, {"attn", "ffn"}, 8,
       "low-rank adapter after a sublayer (Compacter/S3Delta)", "s2", {"attn", "ffn"}, {"cross"}},
      {"serial_adapter", {SiteKind::Sublayer}, true, kSublayers, {"attn", "ffn"}, 8,
       "bottleneck adapter on a sublayer output (Houlsby)", "s1", {"ffn"}, {"cross"}},
      {"parallel_adapter", {SiteKind::Sublayer}, true, kSublayers, {"ffn"}, 8,
       "bottleneck adapter from a sublayer input, added to its output (He et al.)", "s1", {"ffn"}, {"cross"}},
      {"prefix", {SiteKind::Attention}, true, {"attn_scores"}, {"attn_scores"}, 8,
       "prefix keys/values in self-attention", "s1", {"attn_scores"}, {}, /*shared_params=*/true},
      {"bitfit", {SiteKind::Linear, SiteKind::Norm}, false, concat(kLinear, kNorms),
       {"q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo", "attn_ln", "ffn_ln", "cross_ln", "final_ln"}, 1,
       "trainable bias on a linear or layer-norm output", "s2",
       {"q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo", "attn_ln", "ffn_ln", "cross_ln", "final_ln"},
       {"cross_q", "cross_k", "cross_v", "cross_o"}},
      {"lnfit", {SiteKind::Norm}, false, kNorms, kNorms, 1, "trainable delta on a layer-norm scale", "s2", kNorms, {}},
  };
  return table;
}

const MethodInfo& method_info(const std::string& name) {
  std::string n = to_lower(name);
  std::replace(n.begin(), n.end(), '-', '_');
  if (n == "adapter" || n == "sa") n = "serial_adapter";
  if (n == "pa") n = "parallel_adapter";
  if (n == "lowrank_adapter" || n == "low_rank_adapter") n = "adapter_lr";
  if (n == "ln_tuning" || n == "ln") n = "lnfit";
  for (const auto& m : methods())
    if (m.name == n) return m;
  std::vector<std::string> names;
  for (const auto& m : methods()) names.push_back(m.name);
  throw ConfigError("unknown PEFT method '" + name + "'; known: " + join(names, ", ") + " (and full)");
}

std::vector<std::string> space_methods(const std::string& space) {
  std::vector<std::string> out;
  for (const auto& m : methods())
    if (m.space == space) out.push_back(m.name);
  return out;
}

bool uses_shared_params(const std::string& name) { return method_info(name).shared_params; }

void PeftOptions::validate() const {
  if (adapter_lr_reduction < 1) throw ConfigError("adapter_lr_reduction must be >= 1");
  if (prefix_mid < 1) throw ConfigError("prefix_mid must be >= 1");
  if (prefix_length_max < 1) throw ConfigError("prefix_length_max must be >= 1");
}

bool target_matches(const std::string& target, const model::SiteInfo& site, const MethodInfo& method) {
  if (std::find(method.kinds.begin(), method.kinds.end(), site.kind) == method.kinds.end()) return false;
  if (std::find(method.positions.begin(), method.positions.end(), site.position) == method.positions.end()) return false;
  if (target == site.name || target == site.position) return true;
  if (target == "all") return !is_cross(site.position);
  if (target == "cross") return is_cross(site.position);
  if (target == "wi") return site.position == "wi_0" || site.position == "wi_1";
  return false;
}

PeftModulePtr make_module(const ModuleSpec& spec, const model::SiteInfo& site, const PeftOptions& o,
                          const std::shared_ptr<PrefixSharedImpl>& shared, int64_t d_model, at::Generator& gen) {
  const auto& info = method_info(spec.method);
  if (std::find(info.kinds.begin(), info.kinds.end(), site.kind) == info.kinds.end() ||
      std::find(info.positions.begin(), info.positions.end(), site.position) == info.positions.end())
    throw ConfigError(spec.site + ": method " + info.name + " cannot attach to a " + model::site_kind_name(site.kind) +
                      " site at position '" + site.position + "'");
  if (info.ranked && spec.rank < 1) throw ConfigError(spec.site + ": " + info.name + " needs a rank >= 1");
  if (info.name == "lora") return std::make_shared<LoraImpl>(site, spec.rank, gen);
  if (info.name == "adapter_lr")
    return std::make_shared<AdapterLrImpl>(site, spec.rank, std::max<int64_t>(1, d_model / o.adapter_lr_reduction), gen);
  if (info.name == "serial_adapter")
    return std::make_shared<BottleneckAdapterImpl>(site, AdapterPlacement::Serial, spec.rank, gen);
  if (info.name == "parallel_adapter")
    return std::make_shared<BottleneckAdapterImpl>(site, AdapterPlacement::Parallel, spec.rank, gen);
  if (info.name == "prefix") {
    if (!shared) throw ConfigError(spec.site + ": prefix modules need the shared prefix generator");
    return std::make_shared<PrefixImpl>(site, shared, spec.rank, gen);
  }
  if (info.name == "bitfit") return std::make_shared<BitFitImpl>(site);
  if (info.name == "lnfit") return std::make_shared<LnFitImpl>(site);
  throw ConfigError("no module type for method " + info.name);
}

}  // namespace bipeft::peft
