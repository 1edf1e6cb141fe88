#include "bipeft/model/t5_weights.h"

#include <filesystem>
#include <map>
#include <set>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/core/run_context.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/io/safetensors.h"

namespace bipeft::model {

namespace {

// Names transformers may store for the tied embedding besides shared.weight.
const char* const kEmbeddingAliases[] = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"};
// Tensors transformers ignores on load (T5ForConditionalGeneration._keys_to_ignore_on_load_unexpected).
const char* const kIgnored[] = {"decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"};

}  // namespace

void load_t5_weights(T5ModelImpl& model, const io::TensorSource& source) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  auto params = model.named_parameters();
  for (auto& p : params) {
    const std::string& name = p.key();
    std::string found;
    if (source.contains(name)) {
      found = name;
    } else if (name == "shared.weight") {
      for (const char* alias : kEmbeddingAliases)
        if (source.contains(alias)) {
          found = alias;
          break;
        }
      if (found.empty() && model.config.tie_word_embeddings && source.contains("lm_head.weight")) found = "lm_head.weight";
    }
    if (found.empty()) {
      missing.push_back(name);
      continue;
    }
    used.insert(found);
    auto shape = source.shape(found);
    if (shape != p.value().sizes().vec()) {
      mismatched.push_back(found + " is " + shape_str(shape) + " in " + source.file_of(found) + " but the config needs " +
                           shape_str(p.value().sizes().vec()));
      continue;
    }
    p.value().copy_(source.load(found).to(p.value().scalar_type()));
  }
  std::vector<std::string> unexpected;
  for (const auto& n : source.names()) {
    if (used.count(n)) continue;
    bool alias = n == "lm_head.weight" && model.config.tie_word_embeddings;
    for (const char* a : kEmbeddingAliases) alias = alias || n == a;
    for (const char* a : kIgnored) alias = alias || n == a;
    if (!alias) unexpected.push_back(n);
  }
  if (missing.empty() && unexpected.empty() && mismatched.empty()) return;
  std::string msg = "checkpoint does not match config.json (" + model.config.feed_forward_proj() + ", " +
                    std::to_string(model.config.num_layers) + "+" + std::to_string(model.config.num_decoder_layers) +
                    " layers, d_model " + std::to_string(model.config.d_model) + "):";
  auto list = [&](const char* what, const std::vector<std::string>& items) {
    if (items.empty()) return;
    msg += std::string("\n  ") + what + " (" + std::to_string(items.size()) + "):";
    for (size_t i = 0; i < items.size() && i < 20; ++i) msg += "\n    " + items[i];
    if (items.size() > 20) msg += "\n    ... and " + std::to_string(items.size() - 20) + " more";
  };
  list("missing", missing);
  list("unexpected", unexpected);
  list("shape mismatch", mismatched);
  msg += "\n  use the config.json that belongs to these weights";
  throw ShapeError(msg);
}

T5Model load_t5(const std::string& dir, const LoadOptions& options) {
  auto config = T5Config::from_dir(dir);
  T5Model model(config);
  if (options.dtype != c10::kFloat) model->to(options.dtype);
  auto source = io::open_checkpoint(dir);
  load_t5_weights(*model, *source);
  model->to(options.device);
  model->eval();
  return model;
}

void save_t5(T5ModelImpl& model, const std::string& dir, c10::ScalarType storage) {
  const char* dtype_name = storage == c10::kFloat ? "float32" : storage == c10::kBFloat16 ? "bfloat16"
                           : storage == c10::kHalf ? "float16" : nullptr;
  if (dtype_name == nullptr)
    throw ConfigError(std::string("cannot store a T5 checkpoint as ") + c10::toString(storage) +
                      "; use float32, bfloat16 or float16");
  io::make_dirs(dir);
  auto config = model.config.to_json();
  config["torch_dtype"] = dtype_name;
  auto tensors = model.hf_state_dict();
  for (auto& kv : tensors) kv.second = kv.second.detach().to(torch::kCPU, storage).contiguous();
  io::write_json_atomic((std::filesystem::path(dir) / "config.json").string(), config);
  io::save_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), tensors);
}

T5Model load_t5(const std::string& dir, const RunContext& ctx) {
  LoadOptions options;
  options.dtype = ctx.dtype;
  options.device = ctx.device;
  return load_t5(dir, options);
}

}  // namespace bipeft::model
