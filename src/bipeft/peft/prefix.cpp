#include "bipeft/peft/prefix.h"

#include <cmath>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/model/t5_attention.h"
#include "bipeft/peft/init.h"

namespace bipeft::peft {

PrefixSharedImpl::PrefixSharedImpl(int64_t length, int64_t d, int64_t mid, at::Generator& gen)
    : PeftModule("", "prefix_shared") {
  embedding = register_parameter("embedding", torch::empty({length, d}));
  down_weight = register_parameter("down_weight", torch::empty({mid, d}));
  down_bias = register_parameter("down_bias", torch::empty({mid}));
  init_normal_(embedding, 1.0, gen);  // nn.Embedding's default
  const double bound = kaiming_uniform_bound(d, std::sqrt(5.0));
  init_uniform_(down_weight, bound, gen);
  init_uniform_(down_bias, 1.0 / std::sqrt(static_cast<double>(d)), gen);
}

torch::Tensor PrefixSharedImpl::rows() const { return at::relu(at::linear(embedding, down_weight, down_bias)); }

int64_t PrefixSharedImpl::param_count(int64_t rank) const {
  return rank > 0 ? embedding.numel() + down_weight.numel() + down_bias.numel() : 0;
}

std::vector<NamedTensor> PrefixSharedImpl::slices(int64_t rank) const {
  if (rank == 0) return {};
  return {{"embedding", embedding}, {"down_weight", down_weight}, {"down_bias", down_bias}};
}

PrefixImpl::PrefixImpl(const model::SiteInfo& site, std::shared_ptr<PrefixSharedImpl> shared, int64_t length_max,
                       at::Generator& gen)
    : PeftModule(site.name, "prefix"), shared_(std::move(shared)), attention_(site.attention), length_max_(length_max) {
  if (attention_ == nullptr) throw ConfigError(site.name + ": prefix needs an attention site");
  if (length_max_ > shared_->rank_max())
    throw ConfigError(site.name + ": prefix length " + std::to_string(length_max_) + " exceeds the shared prefix rows (" +
                      std::to_string(shared_->rank_max()) + ")");
  const int64_t d = shared_->embedding.size(1), mid = shared_->down_weight.size(0);
  up_weight = register_parameter("up_weight", torch::empty({2 * d, mid}));
  up_bias = register_parameter("up_bias", torch::empty({2 * d}));
  gate = register_parameter("gate", torch::zeros({1}));
  const double bound = 1.0 / std::sqrt(static_cast<double>(mid));
  init_uniform_(up_weight, bound, gen);
  init_uniform_(up_bias, bound, gen);
}

int64_t PrefixImpl::param_count(int64_t rank) const {
  return rank > 0 ? up_weight.numel() + up_bias.numel() + gate.numel() : 0;
}

std::vector<NamedTensor> PrefixImpl::slices(int64_t rank) const {
  if (rank == 0) return {};
  return {{"up_weight", up_weight}, {"up_bias", up_bias}, {"gate", gate}};
}

torch::Tensor PrefixImpl::apply(const torch::Tensor& q, const torch::Tensor& ctx) {
  const int64_t r = active_rank();
  if (r == 0) return ctx;  // no slot selected: nothing to attend to
  const int64_t d = shared_->embedding.size(1);
  const int64_t H = attention_->num_heads, dk = attention_->d_kv;
  auto kv = at::linear(shared_->rows().narrow(0, 0, r), up_weight, up_bias);  // [r, 2d]
  auto wk = attention_->k->weight, wv = attention_->v->weight;
  auto kp = at::linear(kv.narrow(1, 0, d), wk.to(kv.scalar_type())).view({r, H, dk}).permute({1, 0, 2});  // [H, r, dk]
  auto vp = at::linear(kv.narrow(1, d, d), wv.to(kv.scalar_type())).view({r, H, dk}).permute({1, 0, 2});
  if (auto m = rank_mask(r); m.defined()) vp = vp * m.view({1, r, 1});
  if (gate_.up.defined()) vp = vp * gate_.up.narrow(0, 0, r).view({1, r, 1});
  auto qf = to_param_dtype(q);
  auto scores = at::matmul(qf, kp.transpose(-1, -2).unsqueeze(0));  // [B, H, Tq, r]
  auto probs = at::softmax(scores.to(at::kFloat), -1).to(scores.scalar_type());
  auto delta = at::matmul(probs, vp.unsqueeze(0));  // [B, H, Tq, dk]
  return ctx + (gate_on(gate) * delta).to(ctx.scalar_type());
}

}  // namespace bipeft::peft
