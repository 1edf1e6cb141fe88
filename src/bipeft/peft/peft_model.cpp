#include "bipeft/peft/peft_model.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::peft {

std::string native_prefix(const PeftModule& m) {
  return m.site_name().empty() ? m.method() : m.site_name() + "." + m.method();
}

PeftModelImpl::PeftModelImpl(model::T5Model bb, const Structure& s, uint64_t seed)
    : backbone(std::move(bb)), options(s.options), full_finetune(s.full_finetune) {
  s.options.validate();
  auto sites = backbone->sites();
  s.validate(sites, "structure");
  auto gen = at::detail::createCPUGenerator(seed);
  const auto device = backbone->shared->weight.device();
  std::shared_ptr<PrefixSharedImpl> shared;
  for (const auto& m : s.modules) {
    if (m.method != "prefix") continue;
    shared = std::make_shared<PrefixSharedImpl>(s.options.prefix_length_max, backbone->config.d_model,
                                                s.options.prefix_mid, gen);
    modules.push_back(shared);
    break;
  }
  for (const auto& m : s.modules) {
    const auto& info = method_info(m.method);
    const model::SiteInfo* site = nullptr;
    for (const auto& si : sites)
      if (si.name == m.site && target_matches(m.site, si, info)) site = &si;
    TORCH_INTERNAL_ASSERT(site != nullptr, "validated structure entry without a site: ", m.site);
    auto mod = make_module(m, *site, s.options, shared, backbone->config.d_model, gen);
    site_of_[mod->id()] = site->site;
    modules.push_back(mod);
  }
  for (size_t i = 0; i < modules.size(); ++i) register_module("m" + std::to_string(i), modules[i]);
  to(device);
  backbone->set_backbone_trainable(full_finetune);
  attach_();
}

PeftModelImpl::~PeftModelImpl() { detach_(); }

void PeftModelImpl::attach_() {
  if (attached_) return;
  for (auto& m : modules) {
    auto it = site_of_.find(m->id());
    if (it != site_of_.end()) it->second->add(m);
  }
  attached_ = true;
}

void PeftModelImpl::detach_() {
  if (!attached_) return;
  for (auto& m : modules) {
    auto it = site_of_.find(m->id());
    if (it != site_of_.end()) it->second->remove(m.get());
  }
  attached_ = false;
}

void PeftModelImpl::train(bool on) {
  torch::nn::Module::train(on);
  backbone->train(on);
}

Structure PeftModelImpl::structure() const {
  Structure s;
  s.options = options;
  s.full_finetune = full_finetune;
  for (const auto& m : modules) {
    if (m->site_name().empty()) continue;  // shared parts are implied
    s.modules.push_back({m->site_name(), m->method(), m->ranked() ? m->rank_max() : 1});
  }
  return s;
}

int64_t PeftModelImpl::trainable_count() const {
  int64_t n = 0;
  for (const auto& m : modules) n += m->param_count(m->rank_max());
  if (full_finetune) n += backbone->num_parameters();
  return n;
}

std::vector<torch::Tensor> PeftModelImpl::trainable_parameters() {
  std::vector<torch::Tensor> out = parameters();
  if (full_finetune)
    for (auto& p : backbone->parameters()) out.push_back(p);
  return out;
}

PeftModulePtr PeftModelImpl::find(const std::string& id) const {
  for (const auto& m : modules)
    if (m->id() == id) return m;
  return nullptr;
}

io::NamedTensors PeftModelImpl::native_tensors() const {
  io::NamedTensors out;
  for (const auto& m : modules)
    for (auto& [name, t] : m->slices(m->rank_max())) out.emplace_back(native_prefix(*m) + "." + name, t.detach());
  if (full_finetune)
    for (auto& [name, t] : backbone->hf_state_dict()) out.emplace_back("backbone." + name, t.detach());
  return out;
}

void PeftModelImpl::load_native_(const io::SafetensorsReader& reader) {
  torch::NoGradGuard ng;
  std::vector<std::string> missing, mismatched;
  auto copy = [&](const std::string& key, torch::Tensor dst) {
    if (!reader.contains(key)) {
      missing.push_back(key);
      return;
    }
    auto src = reader.load(key);
    if (src.sizes() != dst.sizes()) {
      mismatched.push_back(key + " is " + shape_str(src.sizes().vec()) + ", expected " + shape_str(dst.sizes().vec()));
      return;
    }
    dst.copy_(src);
  };
  for (const auto& m : modules)
    for (auto& [name, t] : m->slices(m->rank_max())) copy(native_prefix(*m) + "." + name, t);
  if (full_finetune)
    for (auto& [name, t] : backbone->hf_state_dict()) copy("backbone." + name, t);
  if (missing.empty() && mismatched.empty()) return;
  std::string msg = reader.label() + ": adapter weights do not match structure.json:";
  for (const auto& m : missing) msg += "\n  missing " + m;
  for (const auto& m : mismatched) msg += "\n  " + m;
  throw ShapeError(msg);
}

}  // namespace bipeft::peft
