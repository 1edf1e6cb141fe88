#include "bipeft/export/merge.h"

#include <filesystem>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/export/hf_peft_export.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/model/t5_weights.h"

namespace bipeft::exporter {

namespace {

namespace fs = std::filesystem;

std::string module_id(const peft::PeftModule& m) { return m.site_name().empty() ? m.method() : m.id(); }

/// A hook-free copy of `src` with the same weights, dtype and device.
model::T5Model clone_backbone(const model::T5ModelImpl& src) {
  model::T5Model copy(src.config);
  const auto& ref = src.shared->weight;
  copy->to(ref.device(), ref.scalar_type());
  torch::NoGradGuard ng;
  auto dst_params = copy->named_parameters();
  for (const auto& p : src.named_parameters()) {
    auto* dst = dst_params.find(p.key());
    TORCH_INTERNAL_ASSERT(dst != nullptr, "backbone copy lacks ", p.key());
    dst->copy_(p.value());
  }
  auto dst_buffers = copy->named_buffers();
  for (const auto& b : src.named_buffers())
    if (auto* dst = dst_buffers.find(b.key())) dst->copy_(b.value());
  copy->set_backbone_trainable(false);
  copy->eval();
  return copy;
}

}  // namespace

const std::vector<std::string>& tokenizer_files() {
  static const std::vector<std::string> files = {"spiece.model", "tokenizer.json", "tokenizer_config.json",
                                                 "special_tokens_map.json", "generation_config.json"};
  return files;
}

MergeResult merge_adapter(const peft::PeftModelImpl& model) {
  MergeResult r;
  r.merged = clone_backbone(*model.backbone);
  for (const auto& m : model.modules) {
    if (m->merge_into_(*r.merged, m->rank_max()))
      r.merged_ids.push_back(module_id(*m));
    else
      r.unmergeable.push_back(module_id(*m));
  }
  return r;
}

nlohmann::json export_merged(const peft::PeftModelImpl& model, const std::string& out,
                             const MergedExportOptions& options) {
  auto r = merge_adapter(model);
  if (!r.unmergeable.empty() && !options.drop_unmergeable) {
    std::string msg = std::to_string(r.unmergeable.size()) +
                      " module(s) cannot be merged into a T5 checkpoint (they are not changes of existing weights):";
    for (size_t i = 0; i < r.unmergeable.size() && i < 20; ++i) msg += "\n  " + r.unmergeable[i];
    if (r.unmergeable.size() > 20) msg += "\n  ... and " + std::to_string(r.unmergeable.size() - 20) + " more";
    msg += "\n  use MergedExportOptions.drop_unmergeable to write the checkpoint without them, or export in PEFT format "
           "to keep everything";
    throw ConfigError(msg);
  }
  model::save_t5(*r.merged, out);
  nlohmann::json copied = nlohmann::json::array();
  if (!options.model_dir.empty()) {
    for (const auto& name : tokenizer_files()) {
      const auto src = (fs::path(options.model_dir) / name).string();
      if (!io::is_file(src)) continue;
      io::write_file_atomic((fs::path(out) / name).string(), io::read_file(src));
      copied.push_back(name);
    }
  }
  nlohmann::json report = {{"format", "bipeft-export"},
                           {"version", 1},
                           {"export_format", "merged"},
                           {"producer", default_producer()},
                           {"base_model", options.model_dir},
                           {"full_finetune", model.full_finetune},
                           {"merged", r.merged_ids},
                           {"dropped", r.unmergeable},
                           {"copied_files", copied}};
  io::write_json_atomic((fs::path(out) / kExportReportFile).string(), report);
  return report;
}

}  // namespace bipeft::exporter
