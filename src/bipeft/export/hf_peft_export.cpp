#include "bipeft/export/hf_peft_export.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <ATen/ATen.h>

#include "bipeft/build_info.h"
#include "bipeft/core/error.h"
#include "bipeft/export/hf_peft_config.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/peft/adapter_io.h"

namespace bipeft::exporter {

namespace {

namespace fs = std::filesystem;

/// The parts of `model` PEFT can hold, of one peft_type, in module order.
std::vector<peft::HfPeftPart> parts_of_type(const peft::PeftModelImpl& model, const std::string& peft_type) {
  std::vector<peft::HfPeftPart> out;
  for (const auto& m : model.modules) {
    auto part = m->hf_peft_part(*model.backbone, m->rank_max());
    if (part && part->peft_type == peft_type) out.push_back(std::move(*part));
  }
  return out;
}

/// Fields every PEFT config we write shares. Only keys that every PEFT release able to hold the adapter
/// accepts as constructor arguments are written: releases before the forward-compatibility filter of
/// PEFT 0.14 pass the whole JSON to the config class and reject any unknown key ("got an unexpected
/// keyword argument"). Our provenance goes to bipeft_export.json, not to PEFT's `peft_version` (a newer
/// field that holds PEFT's own version). The key sets are pinned by tests/export/hf_peft_export_test.cpp
/// and the releases they were checked against are listed in docs/export.md.
nlohmann::json base_config(const std::string& peft_type, const std::vector<std::string>& modules,
                           const HfPeftExportOptions& options) {
  return {{"peft_type", peft_type},
          {"task_type", kHfTaskType},
          {"base_model_name_or_path", options.base_model_name_or_path},
          {"revision", nullptr},
          {"inference_mode", true},
          {"auto_mapping", nullptr},
          {"target_modules", modules},
          {"modules_to_save", nullptr}};
}

std::string key_of(const std::string& module, const std::string& suffix) { return kHfKeyPrefix + module + "." + suffix; }

/// Copies `src` to `dst` through a temporary name, so a crash never leaves a torn file.
void copy_file_atomic(const std::string& src, const std::string& dst) {
  const std::string tmp = dst + ".tmp";
  std::error_code ec;
  fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, dst, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw IoError(dst + ": cannot copy from " + src + " (" + ec.message() + ")");
  }
}

void write_native_copy(const peft::PeftModelImpl& model, const std::string& dir, const HfPeftExportOptions& options) {
  if (options.native_source.empty()) {
    peft::save_native_adapter(model, dir);
    return;
  }
  if (!peft::is_native_adapter(options.native_source))
    throw IoError(options.native_source + ": not a bipeft native adapter folder (no " + peft::kStructureFile + ")");
  io::make_dirs(dir);
  for (const char* name : {peft::kAdapterWeightsFile, peft::kStructureFile})
    copy_file_atomic(io::join_path(options.native_source, name), io::join_path(dir, name));
}

}  // namespace

std::string default_producer() { return std::string("bipeft-") + BIPEFT_VERSION; }

std::optional<HfAdapter> hf_lora_adapter(const peft::PeftModelImpl& model, const HfPeftExportOptions& options) {
  auto parts = parts_of_type(model, "LORA");
  if (parts.empty()) return std::nullopt;
  int64_t r = 0;
  for (const auto& p : parts) r = std::max(r, p.rank);
  const int64_t alpha = r;
  HfAdapter a;
  nlohmann::json rank_pattern = nlohmann::json::object();
  torch::NoGradGuard ng;
  for (const auto& p : parts) {
    a.modules.push_back(p.module);
    a.ranks.push_back(p.rank);
    if (p.rank != r) rank_pattern[p.module] = p.rank;
    for (const auto& [suffix, t] : p.tensors) {
      auto stored = t.detach().cpu();
      // PEFT multiplies by lora_alpha / r_i; store B_i * r_i / lora_alpha so the product is bipeft's B_i.
      if (suffix == "lora_B.weight" && p.rank != alpha)
        stored = stored * (static_cast<double>(p.rank) / static_cast<double>(alpha));
      a.tensors.emplace_back(key_of(p.module, suffix), stored.contiguous());
    }
  }
  a.config = base_config("LORA", a.modules, options);
  a.config["r"] = r;
  a.config["lora_alpha"] = alpha;
  a.config["rank_pattern"] = rank_pattern;
  a.config["alpha_pattern"] = nlohmann::json::object();
  a.config["lora_dropout"] = 0.0;
  a.config["bias"] = "none";
  a.config["fan_in_fan_out"] = false;
  a.config["init_lora_weights"] = true;  // (use_rslora, PEFT >= 0.8, is left out: its default, false, is ours)
  a.config["layers_to_transform"] = nullptr;
  a.config["layers_pattern"] = nullptr;
  return a;
}

std::optional<HfAdapter> hf_ln_tuning_adapter(const peft::PeftModelImpl& model, const HfPeftExportOptions& options) {
  auto parts = parts_of_type(model, "LN_TUNING");
  if (parts.empty()) return std::nullopt;
  HfAdapter a;
  for (const auto& p : parts) {
    a.modules.push_back(p.module);
    for (const auto& [suffix, t] : p.tensors) a.tensors.emplace_back(key_of(p.module, suffix), t.detach().cpu().contiguous());
  }
  a.config = base_config("LN_TUNING", a.modules, options);
  return a;
}

void save_hf_adapter(const HfAdapter& adapter, const std::string& dir) {
  io::make_dirs(dir);
  io::save_safetensors(io::join_path(dir, kHfSafetensorsFile), adapter.tensors, {{"format", "pt"}});
  io::write_json_atomic(io::join_path(dir, kHfConfigFile), adapter.config);
}

HfPeftExportSummary export_hf_peft(const peft::PeftModelImpl& model, const std::string& out,
                                   const HfPeftExportOptions& options) {
  io::make_dirs(out);
  HfPeftExportSummary s;
  nlohmann::json report = {{"format", "bipeft-export"},
                           {"version", 1},
                           {"export_format", "peft"},
                           {"producer", options.producer.empty() ? default_producer() : options.producer},
                           {"base_model", options.base_model_name_or_path},
                           {"full_finetune", model.full_finetune},
                           {"lora", nullptr},
                           {"ln_tuning", nullptr},
                           {"native", kNativeSubdir}};

  if (auto lora = hf_lora_adapter(model, options)) {
    save_hf_adapter(*lora, out);
    s.lora_modules = lora->modules;
    s.lora_r = lora->config["r"].get<int64_t>();
    nlohmann::json ranks = nlohmann::json::object();
    for (size_t i = 0; i < lora->modules.size(); ++i) ranks[lora->modules[i]] = lora->ranks[i];
    report["lora"] = {{"folder", "."},
                      {"r", s.lora_r},
                      {"lora_alpha", lora->config["lora_alpha"]},
                      {"scaling_fold", "lora_B stored as B * r_i / lora_alpha"},
                      {"modules", ranks}};
  }
  if (auto ln = hf_ln_tuning_adapter(model, options)) {
    save_hf_adapter(*ln, io::join_path(out, kLnTuningSubdir));
    s.ln_tuning_modules = ln->modules;
    report["ln_tuning"] = {{"folder", kLnTuningSubdir}, {"modules", ln->modules}};
  }

  nlohmann::json native_only = nlohmann::json::array();
  for (const auto& m : model.modules) {
    if (m->hf_peft_part(*model.backbone, m->rank_max())) continue;
    const std::string id = m->site_name().empty() ? m->method() : m->id();
    s.native_only.push_back(id);
    native_only.push_back({{"id", id}, {"method", m->method()}, {"params", m->param_count(m->rank_max())}});
  }
  if (model.full_finetune) {
    s.native_only.push_back("backbone");
    native_only.push_back({{"id", "backbone"}, {"method", "full"}, {"params", model.backbone->num_parameters()}});
  }
  report["native_only"] = native_only;
  write_native_copy(model, io::join_path(out, kNativeSubdir), options);

  nlohmann::json warnings = nlohmann::json::array();
  if (s.nothing_for_peft())
    warnings.push_back("the adapter has no LoRA and no LNFit module: nothing could be written in PEFT format; the "
                       "complete adapter is in native/ (export a merged checkpoint instead where the modules allow)");
  else if (!s.native_only.empty())
    warnings.push_back(std::to_string(s.native_only.size()) +
                       " module(s) PEFT cannot hold are only in native/; PEFT alone reproduces a different model");
  report["warnings"] = warnings;
  io::write_json_atomic(io::join_path(out, kExportReportFile), report);
  s.report = std::move(report);
  return s;
}

}  // namespace bipeft::exporter
