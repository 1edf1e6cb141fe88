#pragma once
// The fields of a Hugging Face T5 config.json that change the math (FORMATS.md §A).
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace bipeft::model {

/// Activation inside the feed-forward block.
enum class Activation { Relu, Gelu, GeluNew, Silu };  // Gelu = exact (erf), GeluNew = tanh approx.

struct T5Config {
  int64_t vocab_size = 32128;
  int64_t d_model = 512;
  int64_t d_kv = 64;             // per-head width; num_heads * d_kv may differ from d_model
  int64_t d_ff = 2048;
  int64_t num_layers = 6;        // encoder blocks
  int64_t num_decoder_layers = 6;
  int64_t num_heads = 8;
  int64_t relative_attention_num_buckets = 32;
  int64_t relative_attention_max_distance = 128;
  double dropout_rate = 0.1;
  double layer_norm_epsilon = 1e-6;
  bool gated_ffn = false;        // true: wi_0/wi_1/wo (T5 v1.1, Flan, mT5); false: wi/wo (T5 v1.0)
  Activation activation = Activation::Relu;
  bool tie_word_embeddings = true;  // true: lm_head = shared and decoder output scaled by d_model^-0.5
  int64_t pad_token_id = 0;
  int64_t eos_token_id = 1;
  int64_t decoder_start_token_id = 0;
  std::string model_type = "t5";

  /// Parses config.json content. Required: d_model, d_kv, d_ff, num_layers, num_heads, vocab_size;
  /// other fields take Hugging Face's T5Config defaults. Throws FormatError naming `where` and the
  /// field for another model_type, a missing required field or a bad value.
  static T5Config from_json(const nlohmann::json& j, const std::string& where);
  /// Reads `<dir>/config.json`.
  static T5Config from_dir(const std::string& dir);
  /// The config as Hugging Face writes it (loadable by transformers).
  nlohmann::json to_json() const;
  /// Throws ConfigError if a value is out of range.
  void validate() const;

  int64_t inner_dim() const { return num_heads * d_kv; }
  /// "relu", "gated-gelu", ... as in feed_forward_proj.
  std::string feed_forward_proj() const;
};

}  // namespace bipeft::model
