#include "bipeft/model/t5_config.h"

#include <filesystem>
#include <tuple>

#include "bipeft/core/error.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"

namespace bipeft::model {

namespace {

Activation parse_activation(const std::string& name, const std::string& where) {
  if (name == "relu") return Activation::Relu;
  if (name == "gelu") return Activation::Gelu;
  if (name == "gelu_new") return Activation::GeluNew;
  if (name == "silu" || name == "swish") return Activation::Silu;
  throw FormatError(where + ": unsupported activation '" + name + "' in feed_forward_proj; use relu, gelu or silu");
}

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::Relu: return "relu";
    case Activation::Gelu: return "gelu";
    case Activation::GeluNew: return "gelu_new";
    case Activation::Silu: return "silu";
  }
  return "relu";
}

}  // namespace

T5Config T5Config::from_json(const nlohmann::json& j, const std::string& where) {
  using io::json_optional;
  using io::json_required;
  if (!j.is_object()) throw FormatError(where + ": expected a JSON object");
  T5Config c;
  c.model_type = json_required<std::string>(j, "model_type", where);
  if (c.model_type != "t5" && c.model_type != "mt5")
    throw FormatError(where + ": model_type '" + c.model_type +
                      "' is not supported; bipeft loads T5-family checkpoints (model_type t5 or mt5)");
  c.vocab_size = json_required<int64_t>(j, "vocab_size", where);
  c.d_model = json_required<int64_t>(j, "d_model", where);
  c.d_kv = json_required<int64_t>(j, "d_kv", where);
  c.d_ff = json_required<int64_t>(j, "d_ff", where);
  c.num_layers = json_required<int64_t>(j, "num_layers", where);
  c.num_heads = json_required<int64_t>(j, "num_heads", where);
  c.num_decoder_layers = json_optional<int64_t>(j, "num_decoder_layers", c.num_layers, where);
  c.relative_attention_num_buckets = json_optional<int64_t>(j, "relative_attention_num_buckets", 32, where);
  c.relative_attention_max_distance = json_optional<int64_t>(j, "relative_attention_max_distance", 128, where);
  c.dropout_rate = json_optional<double>(j, "dropout_rate", 0.1, where);
  c.layer_norm_epsilon = json_optional<double>(j, "layer_norm_epsilon", 1e-6, where);
  c.tie_word_embeddings = json_optional<bool>(j, "tie_word_embeddings", true, where);
  c.pad_token_id = json_optional<int64_t>(j, "pad_token_id", 0, where);
  c.eos_token_id = json_optional<int64_t>(j, "eos_token_id", 1, where);
  c.decoder_start_token_id = json_optional<int64_t>(j, "decoder_start_token_id", c.pad_token_id, where);
  // feed_forward_proj: "[gated-]act" (HF T5Config: act = last part, gated iff first part is "gated").
  const std::string ffp = json_optional<std::string>(j, "feed_forward_proj", "relu", where);
  const auto dash = ffp.find('-');
  if (dash == std::string::npos) {
    c.gated_ffn = false;
    c.activation = parse_activation(ffp, where);
  } else {
    if (ffp.substr(0, dash) != "gated" || ffp.find('-', dash + 1) != std::string::npos)
      throw FormatError(where + ": feed_forward_proj '" + ffp + "' must be 'ACT' or 'gated-ACT'");
    c.gated_ffn = true;
    c.activation = parse_activation(ffp.substr(dash + 1), where);
    // transformers maps "gated-gelu" to the tanh approximation (gelu_new).
    if (c.activation == Activation::Gelu) c.activation = Activation::GeluNew;
  }
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw FormatError(where + ": " + e.what());
  }
  return c;
}

T5Config T5Config::from_dir(const std::string& dir) {
  const std::string p = (std::filesystem::path(dir) / "config.json").string();
  if (!io::is_file(p)) throw IoError(p + ": missing; a model folder needs the checkpoint's config.json");
  return from_json(io::read_json_file(p), p);
}

void T5Config::validate() const {
  auto positive = [](int64_t v, const char* name) {
    if (v <= 0) throw ConfigError(std::string(name) + " must be positive, found " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size");
  positive(d_model, "d_model");
  positive(d_kv, "d_kv");
  positive(d_ff, "d_ff");
  positive(num_layers, "num_layers");
  positive(num_decoder_layers, "num_decoder_layers");
  positive(num_heads, "num_heads");
  positive(relative_attention_num_buckets, "relative_attention_num_buckets");
  // Far above any released T5 (mT5-XXL: vocabulary 250,112; t5-11b: d_ff 65,536, 128 heads, 24 layers) and
  // small enough that products of sizes (weight shapes, parameter counts) cannot overflow int64.
  constexpr int64_t kMaxWidth = int64_t{1} << 24, kMaxLayers = int64_t{1} << 12;
  for (auto [v, name, max] : {std::tuple{vocab_size, "vocab_size", kMaxWidth}, {d_model, "d_model", kMaxWidth},
                              {d_kv, "d_kv", kMaxWidth}, {d_ff, "d_ff", kMaxWidth}, {num_heads, "num_heads", kMaxWidth},
                              {num_layers, "num_layers", kMaxLayers}, {num_decoder_layers, "num_decoder_layers", kMaxLayers},
                              {relative_attention_num_buckets, "relative_attention_num_buckets", kMaxWidth},
                              {relative_attention_max_distance, "relative_attention_max_distance", kMaxWidth}})
    if (v > max) throw ConfigError(std::string(name) + " " + std::to_string(v) + " is larger than " + std::to_string(max));
  if (relative_attention_num_buckets < 4)
    throw ConfigError("relative_attention_num_buckets must be at least 4");
  if (relative_attention_max_distance <= relative_attention_num_buckets / 4)
    throw ConfigError("relative_attention_max_distance must exceed relative_attention_num_buckets/4");
  if (!(dropout_rate >= 0.0 && dropout_rate < 1.0)) throw ConfigError("dropout_rate must be in [0, 1)");
  if (!(layer_norm_epsilon > 0.0)) throw ConfigError("layer_norm_epsilon must be positive");
  for (auto [v, name] : {std::pair{pad_token_id, "pad_token_id"}, {eos_token_id, "eos_token_id"},
                         {decoder_start_token_id, "decoder_start_token_id"}})
    if (v < 0 || v >= vocab_size)
      throw ConfigError(std::string(name) + " " + std::to_string(v) + " is outside the vocabulary");
}

std::string T5Config::feed_forward_proj() const {
  if (gated_ffn && activation == Activation::GeluNew) return "gated-gelu";
  return (gated_ffn ? "gated-" : "") + activation_name(activation);
}

nlohmann::json T5Config::to_json() const {
  const std::string dense_act = activation_name(activation);
  return {{"architectures", {"T5ForConditionalGeneration"}},
          {"model_type", model_type},
          {"vocab_size", vocab_size},
          {"d_model", d_model},
          {"d_kv", d_kv},
          {"d_ff", d_ff},
          {"num_layers", num_layers},
          {"num_decoder_layers", num_decoder_layers},
          {"num_heads", num_heads},
          {"relative_attention_num_buckets", relative_attention_num_buckets},
          {"relative_attention_max_distance", relative_attention_max_distance},
          {"dropout_rate", dropout_rate},
          {"layer_norm_epsilon", layer_norm_epsilon},
          {"feed_forward_proj", feed_forward_proj()},
          {"dense_act_fn", dense_act},
          {"is_gated_act", gated_ffn},
          {"tie_word_embeddings", tie_word_embeddings},
          {"initializer_factor", 1.0},
          {"is_encoder_decoder", true},
          {"use_cache", true},
          {"pad_token_id", pad_token_id},
          {"eos_token_id", eos_token_id},
          {"decoder_start_token_id", decoder_start_token_id},
          {"torch_dtype", "float32"}};
}

}  // namespace bipeft::model
