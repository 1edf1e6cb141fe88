#pragma once
// T5ForConditionalGeneration in LibTorch. Module and parameter names equal Hugging Face's
// (shared.weight, encoder.block.0.layer.0.SelfAttention.q.weight, ..., lm_head.weight), so PEFT
// modules, exports and messages use the names users know.
#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "bipeft/model/site.h"
#include "bipeft/model/t5_config.h"
#include "bipeft/model/t5_stack.h"

namespace bipeft::model {

struct Seq2SeqOutput {
  torch::Tensor logits;          // [B, Tdec, vocab]
  torch::Tensor loss;            // scalar mean CE over labels != -100 (undefined without labels)
  torch::Tensor encoder_hidden;  // [B, Tsrc, d_model]
};

class T5ModelImpl : public torch::nn::Module {
 public:
  explicit T5ModelImpl(T5Config config);

  /// Encoder states [B, T, d_model] of `input_ids` [B, T] under `attention_mask` (undefined = all ones).
  torch::Tensor encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  /// Decoder states (after the final norm) of `decoder_input_ids` attending to `encoder_hidden`.
  torch::Tensor decode(const torch::Tensor& decoder_input_ids, const torch::Tensor& encoder_hidden,
                       const torch::Tensor& encoder_mask, DecoderCache* cache = nullptr);
  /// Vocabulary logits of decoder states (tied: scaled by d_model^-0.5 first).
  torch::Tensor lm_logits(const torch::Tensor& decoder_hidden);
  /// Full forward. With `labels` [B, Tdec] (-100 = ignore) the loss is computed; when
  /// `decoder_input_ids` is undefined it is shift_right(labels).
  Seq2SeqOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& decoder_input_ids, const torch::Tensor& labels = {});
  /// decoder_start_token_id followed by labels[:, :-1], with -100 replaced by pad.
  torch::Tensor shift_right(const torch::Tensor& labels) const;

  /// Every attach point of the backbone, in a fixed order (encoder blocks, decoder blocks, final norms).
  std::vector<SiteInfo> sites();
  /// Removes every hook from every site.
  void clear_sites();

  /// Hugging Face's random initialisation (factor 1.0) from `seed`.
  void init_weights_(uint64_t seed);
  /// Parameters with their HF names, tied aliases dropped (what save_pretrained writes).
  std::vector<std::pair<std::string, torch::Tensor>> hf_state_dict() const;
  /// Number of backbone parameters (the tied embedding counted once), as transformers reports it.
  int64_t num_parameters() const;
  /// Sets the dropout probability of every layer (and config.dropout_rate); throws ConfigError outside [0, 1).
  void set_dropout(double p);
  /// Makes every backbone parameter trainable (full fine-tuning) or frozen.
  void set_backbone_trainable(bool trainable);

  T5Config config;
  T5Embedding shared{nullptr};
  T5Stack encoder{nullptr}, decoder{nullptr};
  T5Linear lm_head{nullptr};  // only when the embeddings are untied
};
TORCH_MODULE(T5Model);

}  // namespace bipeft::model
