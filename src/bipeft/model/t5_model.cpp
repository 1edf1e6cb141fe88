#include "bipeft/model/t5_model.h"

#include <cmath>
#include <map>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/loss.h>

#include "bipeft/core/error.h"

namespace bipeft::model {

T5ModelImpl::T5ModelImpl(T5Config c) : config(std::move(c)) {
  config.validate();
  shared = register_module("shared", T5Embedding(config.vocab_size, config.d_model));
  encoder = register_module("encoder", T5Stack(config, /*is_decoder=*/false));
  decoder = register_module("decoder", T5Stack(config, /*is_decoder=*/true));
  if (!config.tie_word_embeddings) lm_head = register_module("lm_head", T5Linear(config.d_model, config.vocab_size));
}

torch::Tensor T5ModelImpl::encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  return encoder(shared(input_ids), attention_mask, torch::Tensor(), torch::Tensor(), nullptr);
}

torch::Tensor T5ModelImpl::decode(const torch::Tensor& decoder_input_ids, const torch::Tensor& encoder_hidden,
                                  const torch::Tensor& encoder_mask, DecoderCache* cache) {
  return decoder(shared(decoder_input_ids), torch::Tensor(), encoder_hidden, encoder_mask, cache);
}

torch::Tensor T5ModelImpl::lm_logits(const torch::Tensor& h) {
  if (config.tie_word_embeddings) return at::linear(h * std::pow(static_cast<double>(config.d_model), -0.5), shared->weight);
  return lm_head(h);
}

torch::Tensor T5ModelImpl::shift_right(const torch::Tensor& labels) const {
  auto shifted = at::full_like(labels, config.decoder_start_token_id);
  if (labels.size(1) > 1) shifted.narrow(1, 1, labels.size(1) - 1).copy_(labels.narrow(1, 0, labels.size(1) - 1));
  return shifted.masked_fill(shifted == -100, config.pad_token_id);
}

Seq2SeqOutput T5ModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                   const torch::Tensor& decoder_input_ids, const torch::Tensor& labels) {
  Seq2SeqOutput out;
  out.encoder_hidden = encode(input_ids, attention_mask);
  auto dec_in = decoder_input_ids.defined() ? decoder_input_ids : shift_right(labels);
  auto h = decode(dec_in, out.encoder_hidden, attention_mask);
  out.logits = lm_logits(h);
  if (labels.defined()) {
    out.loss = at::cross_entropy_loss(out.logits.reshape({-1, out.logits.size(-1)}).to(at::kFloat),
                                      labels.reshape({-1}), {}, at::Reduction::Mean, -100);
  }
  return out;
}

std::vector<SiteInfo> T5ModelImpl::sites() {
  std::map<const torch::nn::Module*, std::string> names;
  for (const auto& item : named_modules("", /*include_self=*/false)) names[item.value().get()] = item.key();
  std::vector<SiteInfo> out;
  auto add = [&](const torch::nn::Module* owner, const std::string& suffix, SiteKind kind, const char* position,
                 int64_t in, int64_t outw, bool dec, int64_t block, int64_t layer, Site* site,
                 T5AttentionImpl* attn = nullptr) {
    SiteInfo s;
    s.name = names.at(owner) + suffix;
    s.kind = kind;
    s.position = position;
    s.in_features = in;
    s.out_features = outw;
    s.decoder = dec;
    s.block = block;
    s.layer = layer;
    s.site = site;
    s.attention = attn;
    out.push_back(std::move(s));
  };
  auto linear = [&](T5Linear& l, const char* pos, bool dec, int64_t b, int64_t layer) {
    if (l) add(l.get(), "", SiteKind::Linear, pos, l->in_features, l->out_features, dec, b, layer, &l->site);
  };
  auto norm = [&](T5LayerNorm& n, const char* pos, bool dec, int64_t b, int64_t layer) {
    const int64_t w = n->weight.size(0);
    add(n.get(), "", SiteKind::Norm, pos, w, w, dec, b, layer, &n->site);
  };
  const int64_t d = config.d_model;
  for (bool dec : {false, true}) {
    auto& stack = dec ? decoder : encoder;
    for (size_t b = 0; b < stack->blocks.size(); ++b) {
      const int64_t bi = static_cast<int64_t>(b);
      const int64_t layer = dec ? config.num_layers + bi : bi;
      auto& blk = stack->blocks[b];
      auto& sa = blk->self_attention->SelfAttention;
      linear(sa->q, "q", dec, bi, layer);
      linear(sa->k, "k", dec, bi, layer);
      linear(sa->v, "v", dec, bi, layer);
      linear(sa->o, "o", dec, bi, layer);
      norm(blk->self_attention->layer_norm, "attn_ln", dec, bi, layer);
      add(sa.get(), "", SiteKind::Sublayer, "attn", d, d, dec, bi, layer, &sa->output_site);
      add(sa.get(), "", SiteKind::Attention, "attn_scores", sa->d_kv, sa->num_heads, dec, bi, layer,
          &sa->context_site, sa.get());
      if (blk->cross_attention) {
        auto& ca = blk->cross_attention->EncDecAttention;
        linear(ca->q, "cross_q", dec, bi, layer);
        linear(ca->k, "cross_k", dec, bi, layer);
        linear(ca->v, "cross_v", dec, bi, layer);
        linear(ca->o, "cross_o", dec, bi, layer);
        norm(blk->cross_attention->layer_norm, "cross_ln", dec, bi, layer);
        add(ca.get(), "", SiteKind::Sublayer, "cross", d, d, dec, bi, layer, &ca->output_site);
      }
      auto& ff = blk->ff->DenseReluDense;
      linear(ff->wi, "wi", dec, bi, layer);
      linear(ff->wi_0, "wi_0", dec, bi, layer);
      linear(ff->wi_1, "wi_1", dec, bi, layer);
      linear(ff->wo, "wo", dec, bi, layer);
      norm(blk->ff->layer_norm, "ffn_ln", dec, bi, layer);
      add(ff.get(), "", SiteKind::Sublayer, "ffn", d, d, dec, bi, layer, &ff->site);
    }
  }
  norm(encoder->final_layer_norm, "final_ln", false, -1, -1);
  norm(decoder->final_layer_norm, "final_ln", true, -1, -1);
  return out;
}

void T5ModelImpl::clear_sites() {
  for (auto& s : sites()) s.site->clear();
}

void T5ModelImpl::init_weights_(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  const double f = 1.0;
  const double d = static_cast<double>(config.d_model);
  auto normal = [&](torch::Tensor& t, double std) {
    auto cpu = at::empty(t.sizes(), at::TensorOptions().dtype(at::kFloat));
    cpu.normal_(0.0, std, gen);
    t.copy_(cpu);
  };
  normal(shared->weight, f * 1.0);
  if (lm_head) normal(lm_head->weight, f * 1.0);
  for (auto* stack : {&encoder, &decoder}) {
    for (auto& blk : (*stack)->blocks) {
      auto init_attention = [&](T5AttentionImpl& a) {
        normal(a.q->weight, f * std::pow(d * a.d_kv, -0.5));
        normal(a.k->weight, f * std::pow(d, -0.5));
        normal(a.v->weight, f * std::pow(d, -0.5));
        normal(a.o->weight, f * std::pow(static_cast<double>(a.num_heads * a.d_kv), -0.5));
        if (a.relative_attention_bias.defined()) normal(a.relative_attention_bias, f * std::pow(d, -0.5));
      };
      init_attention(*blk->self_attention->SelfAttention);
      if (blk->cross_attention) init_attention(*blk->cross_attention->EncDecAttention);
      auto& ff = blk->ff->DenseReluDense;
      for (auto* l : {&ff->wi, &ff->wi_0, &ff->wi_1})
        if (*l) normal((*l)->weight, f * std::pow(d, -0.5));
      normal(ff->wo->weight, f * std::pow(static_cast<double>(config.d_ff), -0.5));
    }
  }
  for (auto& p : named_parameters()) {
    if (p.key().find("layer_norm") != std::string::npos) p.value().fill_(1.0);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> T5ModelImpl::hf_state_dict() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

int64_t T5ModelImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void T5ModelImpl::set_dropout(double p) {
  if (!(p >= 0.0 && p < 1.0)) throw ConfigError("dropout must be in [0, 1), got " + std::to_string(p));
  config.dropout_rate = p;
  for (auto* stack : {&encoder, &decoder}) {
    (*stack)->dropout = p;
    for (auto& blk : (*stack)->blocks) {
      blk->self_attention->dropout = p;
      blk->self_attention->SelfAttention->dropout = p;
      if (blk->cross_attention) {
        blk->cross_attention->dropout = p;
        blk->cross_attention->EncDecAttention->dropout = p;
      }
      blk->ff->dropout = p;
      blk->ff->DenseReluDense->dropout = p;
    }
  }
}

void T5ModelImpl::set_backbone_trainable(bool trainable) {
  for (auto& p : parameters()) p.set_requires_grad(trainable);
}

}  // namespace bipeft::model
