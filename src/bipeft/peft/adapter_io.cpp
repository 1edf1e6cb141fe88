#include "bipeft/peft/adapter_io.h"

#include <filesystem>

#include "bipeft/core/error.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/io/safetensors.h"

namespace bipeft::peft {

namespace {
std::string join_path(const std::string& dir, const char* file) { return (std::filesystem::path(dir) / file).string(); }
}  // namespace

nlohmann::json structure_report(const PeftModelImpl& model, const nlohmann::json& extra) {
  auto j = model.structure().to_json();
  const int64_t trainable = model.trainable_count();
  const int64_t backbone = model.backbone->num_parameters();
  j["trainable_params"] = trainable;
  j["backbone_params"] = backbone;
  j["ratio"] = backbone > 0 ? static_cast<double>(trainable) / static_cast<double>(backbone) : 0.0;
  j["per_myriad"] = backbone > 0 ? 1e4 * static_cast<double>(trainable) / static_cast<double>(backbone) : 0.0;
  nlohmann::json per_module = nlohmann::json::array();
  for (const auto& m : model.modules)
    per_module.push_back({{"id", m->id()}, {"params", m->param_count(m->rank_max())}});
  j["module_params"] = per_module;
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return j;
}

void save_native_adapter(const PeftModelImpl& model, const std::string& dir, const nlohmann::json& extra) {
  io::make_dirs(dir);
  io::save_safetensors(join_path(dir, kAdapterWeightsFile), model.native_tensors(),
                       {{"format", "pt"}, {"producer", "bipeft"}});
  io::write_json_atomic(join_path(dir, kStructureFile), structure_report(model, extra));
}

bool is_native_adapter(const std::string& dir) { return io::is_file(join_path(dir, kStructureFile)); }

PeftModel load_native_adapter(model::T5Model backbone, const std::string& dir) {
  const auto structure_path = join_path(dir, kStructureFile);
  const auto weights_path = join_path(dir, kAdapterWeightsFile);
  if (!io::is_file(structure_path)) throw IoError(structure_path + ": missing; not a bipeft adapter folder");
  if (!io::is_file(weights_path)) throw IoError(weights_path + ": missing; the adapter folder is incomplete");
  auto structure = Structure::from_json(io::read_json_file(structure_path), structure_path);
  PeftModel model(nullptr);
  try {
    model = PeftModel(backbone, structure, /*seed=*/0);
  } catch (const ConfigError& e) {
    throw FormatError(structure_path + ": " + e.what() + "\n  the adapter was made for another model");
  }
  model->load_native_(io::SafetensorsReader::open(weights_path));
  return model;
}

}  // namespace bipeft::peft
