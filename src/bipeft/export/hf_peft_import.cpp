#include "bipeft/export/hf_peft_import.h"

#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/export/hf_peft_config.h"
#include "bipeft/io/checkpoint.h"
#include "bipeft/io/file_util.h"

namespace bipeft::exporter {

namespace {

/// One adapted module found in the tensors of a PEFT folder.
struct FoundModule {
  std::string method;     // "lora" or "lnfit"
  std::string folder;     // the adapter folder it came from
  at::Tensor a, b, norm;  // lora_A, lora_B (LoRA); the new norm weight (LN tuning)
  double scaling = 1.0;   // PEFT's scaling of this LoRA module
};

/// What the adapter folders hold, checked against the backbone.
struct Found {
  std::map<std::string, FoundModule> modules;  // by module name
  std::vector<std::string> problems;
};

/// Splits "<module>.<marker>.weight" or "<module>.<marker>.<adapter>.weight". Returns false when `key`
/// has no ".<marker>." part; `adapter` is empty when the key has no adapter name.
bool split_key(const std::string& key, const std::string& marker, std::string& module, std::string& adapter,
               bool& well_formed) {
  const std::string needle = "." + marker + ".";
  const auto pos = key.rfind(needle);
  if (pos == std::string::npos || pos == 0) return false;
  module = key.substr(0, pos);
  const std::string rest = key.substr(pos + needle.size());
  adapter.clear();
  well_formed = true;
  if (rest == "weight") return true;
  const auto dot = rest.find('.');
  if (dot != std::string::npos && dot > 0 && rest.substr(dot) == ".weight") {
    adapter = rest.substr(0, dot);
    return true;
  }
  well_formed = false;
  return true;
}

std::unique_ptr<io::TensorSource> open_weights(const std::string& dir) {
  const auto st = io::join_path(dir, kHfSafetensorsFile);
  if (io::is_file(st)) return io::open_safetensors_source(st);
  const auto bin = io::join_path(dir, kHfBinFile);
  if (io::is_file(bin)) return io::open_torch_bin_source(bin);
  throw IoError(dir + ": no " + kHfSafetensorsFile + " or " + kHfBinFile + " beside " + kHfConfigFile +
                "; the PEFT adapter folder is incomplete");
}

class FolderReader {
 public:
  FolderReader(model::T5ModelImpl& backbone, Found& found) : found_(found) {
    for (const auto& s : backbone.sites()) {
      if (s.kind == model::SiteKind::Linear) linear_[s.name] = s;
      if (s.kind == model::SiteKind::Norm) norm_[s.name] = s;
      any_.insert(s.name);
    }
  }

  /// Reads the adapter in `dir`; `label` prefixes problems ("" for the root, "ln_tuning/" for the sub-folder).
  void read(const std::string& dir, const std::string& label) {
    const auto cfg_path = io::join_path(dir, kHfConfigFile);
    const auto cfg = HfPeftConfig::read(cfg_path);
    if (cfg.peft_type != "LORA" && cfg.peft_type != "LN_TUNING")
      throw FormatError(cfg_path + ": peft_type '" + cfg.peft_type +
                        "' is not supported; bipeft imports LORA adapters (and LN_TUNING, as its own export "
                        "writes in ln_tuning/); re-train the adapter as LoRA or use a native bipeft adapter");
    const bool lora = cfg.peft_type == "LORA";
    auto source = open_weights(dir);
    std::set<std::string> adapter_names;
    std::map<std::string, std::map<std::string, std::string>> keys;  // module -> part ("A", "B", "W") -> key
    for (const auto& name : source->names()) {
      std::string key = starts_with(name, kHfKeyPrefix) ? name.substr(std::string(kHfKeyPrefix).size()) : name;
      std::string module, adapter;
      bool well_formed = false, matched = false;
      const std::vector<std::pair<std::string, std::string>> markers =
          lora ? std::vector<std::pair<std::string, std::string>>{{"lora_A", "A"}, {"lora_B", "B"}}
               : std::vector<std::pair<std::string, std::string>>{{"ln_tuning_layers", "W"}};
      for (const auto& [marker, part] : markers) {
        if (!split_key(key, marker, module, adapter, well_formed)) continue;
        matched = true;
        if (!well_formed) break;
        if (!adapter.empty()) adapter_names.insert(adapter);
        if (keys[module].count(part)) {
          problem(label + module + ": two tensors for " + marker + " (" + keys[module][part] + ", " + name + ")");
        } else {
          keys[module][part] = name;
        }
        break;
      }
      if (!matched || !well_formed)
        problem(label + name + ": unsupported tensor in a " + cfg.peft_type + " adapter (expected <module>." +
                (lora ? "lora_A.weight / <module>.lora_B.weight" : "ln_tuning_layers.weight") + ")");
    }
    if (adapter_names.size() > 1)
      problem(label + "tensors of several adapters (" + join({adapter_names.begin(), adapter_names.end()}, ", ") +
              "); save each adapter in its own folder");
    for (const auto& [module, parts] : keys) {
      if (found_.modules.count(module)) {
        problem(label + module + ": adapted twice (root adapter and " + kLnTuningSubdir + "/)");
        continue;
      }
      if (lora)
        read_lora(module, parts, *source, cfg, label);
      else
        read_ln(module, parts, *source, cfg, label);
    }
  }

  void problem(const std::string& msg) { found_.problems.push_back(msg); }

 private:
  bool check_site(const std::string& module, const std::map<std::string, model::SiteInfo>& kind_sites,
                  const char* what, const std::string& label) {
    if (kind_sites.count(module)) return true;
    if (any_.count(module))
      problem(label + module + ": not a " + what + " in this model");
    else
      problem(label + module + ": no such module in this model (" + model_hint() + ")");
    return false;
  }

  std::string model_hint() const {
    return "the adapter was made for another model; module names look like " +
           (linear_.empty() ? std::string("?") : linear_.begin()->first);
  }

  void read_lora(const std::string& module, const std::map<std::string, std::string>& parts,
                 const io::TensorSource& source, const HfPeftConfig& cfg, const std::string& label) {
    if (!check_site(module, linear_, "linear layer (LoRA attaches to q, k, v, o, wi, wo, ...)", label)) return;
    const auto& site = linear_.at(module);
    const bool has_a = parts.count("A") != 0, has_b = parts.count("B") != 0;
    if (!has_a || !has_b) {
      problem(label + module + ": " + (has_a ? "lora_B" : "lora_A") + " missing (each LoRA module needs both)");
      return;
    }
    const auto& ka = parts.at("A");
    const auto& kb = parts.at("B");
    const auto sa = source.shape(ka), sb = source.shape(kb);
    const std::string expect_a = "[r, " + std::to_string(site.in_features) + "]";
    const std::string expect_b = "[" + std::to_string(site.out_features) + ", r]";
    if (sa.size() != 2 || sb.size() != 2 || sa[1] != site.in_features || sb[0] != site.out_features || sa[0] != sb[1] ||
        sa[0] < 1) {
      problem(label + module + ": lora_A is " + shape_str(sa) + " and lora_B is " + shape_str(sb) + "; this layer needs " +
              expect_a + " and " + expect_b + " with the same r >= 1");
      return;
    }
    const int64_t rank = sa[0];
    if (cfg.rank_of(module) != rank) {
      problem(label + module + ": tensors have rank " + std::to_string(rank) + " but adapter_config.json gives " +
              std::to_string(cfg.rank_of(module)) + " (r / rank_pattern)");
      return;
    }
    if (!cfg.targets(module)) {
      problem(label + module + ": has LoRA tensors but is not selected by target_modules");
      return;
    }
    FoundModule f;
    f.method = "lora";
    f.folder = label;
    f.a = source.load(ka);
    f.b = source.load(kb);
    f.scaling = cfg.scaling_of(module);
    found_.modules[module] = std::move(f);
  }

  void read_ln(const std::string& module, const std::map<std::string, std::string>& parts,
               const io::TensorSource& source, const HfPeftConfig& cfg, const std::string& label) {
    if (!check_site(module, norm_, "layer norm (LN tuning attaches to layer_norm / final_layer_norm)", label)) return;
    const auto& site = norm_.at(module);
    const auto& kw = parts.at("W");
    const auto sw = source.shape(kw);
    if (sw != std::vector<int64_t>{site.out_features}) {
      problem(label + module + ": ln_tuning_layers.weight is " + shape_str(sw) + ", expected [" +
              std::to_string(site.out_features) + "]");
      return;
    }
    if (!cfg.targets(module)) {
      problem(label + module + ": has LN tuning tensors but is not selected by target_modules");
      return;
    }
    FoundModule f;
    f.method = "lnfit";
    f.folder = label;
    f.norm = source.load(kw);
    found_.modules[module] = std::move(f);
  }

  Found& found_;
  std::map<std::string, model::SiteInfo> linear_, norm_;
  std::set<std::string> any_;
};

}  // namespace

bool is_hf_peft_adapter(const std::string& dir) {
  return io::is_file(io::join_path(dir, kHfConfigFile)) ||
         io::is_file(io::join_path(io::join_path(dir, kLnTuningSubdir), kHfConfigFile));
}

peft::PeftModel load_hf_peft_adapter(model::T5Model backbone, const std::string& dir) {
  if (!is_hf_peft_adapter(dir))
    throw IoError(io::join_path(dir, kHfConfigFile) + ": missing; not a Hugging Face PEFT adapter folder");
  Found found;
  FolderReader reader(*backbone, found);
  if (io::is_file(io::join_path(dir, kHfConfigFile))) reader.read(dir, "");
  const auto ln_dir = io::join_path(dir, kLnTuningSubdir);
  if (io::is_file(io::join_path(ln_dir, kHfConfigFile))) reader.read(ln_dir, std::string(kLnTuningSubdir) + "/");
  if (!found.problems.empty()) {
    std::string msg = dir + ": the PEFT adapter does not fit this model:";
    for (size_t i = 0; i < found.problems.size() && i < 20; ++i) msg += "\n  " + found.problems[i];
    if (found.problems.size() > 20) msg += "\n  ... and " + std::to_string(found.problems.size() - 20) + " more";
    throw FormatError(msg);
  }
  if (found.modules.empty()) throw FormatError(dir + ": the PEFT adapter holds no LoRA or LN tuning tensors");

  // Modules in the backbone's site order, so the structure does not depend on the file's key order.
  peft::Structure structure;
  for (const auto& site : backbone->sites()) {
    auto it = found.modules.find(site.name);
    if (it == found.modules.end()) continue;
    const bool lora = it->second.method == "lora";
    if (lora != (site.kind == model::SiteKind::Linear)) continue;
    structure.modules.push_back({site.name, it->second.method, lora ? it->second.a.size(0) : 1});
  }
  peft::PeftModel model(nullptr);
  try {
    model = peft::PeftModel(backbone, structure, /*seed=*/0);
  } catch (const ConfigError& e) {
    throw FormatError(dir + ": " + e.what());
  }
  torch::NoGradGuard ng;
  auto params = backbone->named_parameters();
  for (const auto& [name, f] : found.modules) {
    auto m = model->find(name + ":" + f.method);
    TORCH_INTERNAL_ASSERT(m != nullptr, "imported module missing from the structure: ", name);
    if (f.method == "lora") {
      // PEFT: y += x A^T B^T * scaling; bipeft has no scaling, so B_bipeft = B_peft * scaling.
      auto b = (f.b.to(at::kDouble) * f.scaling).to(at::kFloat);
      m->load_slices_({{"A", f.a.to(at::kFloat)}, {"B", b}});
    } else {
      // PEFT's LN tuning stores the whole new norm weight; LNFit holds its difference to the backbone's.
      auto base = params[name + ".weight"].detach().cpu().to(at::kDouble);
      m->load_slices_({{"weight", (f.norm.to(at::kDouble) - base).to(at::kFloat)}});
    }
  }
  return model;
}

}  // namespace bipeft::exporter
