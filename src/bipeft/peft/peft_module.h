#pragma once
// The one interface every PEFT method implements. Search, trainer and exporter use only this:
// max-rank tensors (registered parameters), the forward at a rank behind a gate (SiteHook::apply),
// the exact trainable parameter count at each rank, the tensors of a rank slice with their export
// names, and merging into the backbone where the method allows it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "bipeft/model/site.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/peft/gate.h"

namespace bipeft::peft {

/// A named tensor of a PEFT module (name relative to the module, e.g. "A", "up.bias").
using NamedTensor = std::pair<std::string, torch::Tensor>;

/// A module expressed in Hugging Face PEFT terms (FORMATS.md §B), for export.
struct HfPeftPart {
  std::string peft_type;            // "LORA" or "LN_TUNING"
  std::string module;               // full HF module name (a target_modules entry)
  int64_t rank = 0;                 // LoRA rank of this module (0 when not a LoRA)
  std::vector<NamedTensor> tensors; // key suffix after the module name ("lora_A.weight") -> tensor, in the
                                    // module's own math: LoRA without scaling, LN tuning as the full new weight
};

class PeftModule : public torch::nn::Module, public model::SiteHook {
 public:
  PeftModule(std::string site_name, std::string method) : site_name_(std::move(site_name)), method_(std::move(method)) {}

  /// HF name of the attach point ("encoder.block.0.layer.0.SelfAttention.q"); empty for shared parts.
  const std::string& site_name() const { return site_name_; }
  /// Method name as written in structure files ("lora", "bitfit", ...).
  const std::string& method() const { return method_; }
  /// Unique id "<site>:<method>".
  std::string id() const { return site_name_ + ":" + method_; }
  /// Kind of site this module attaches to.
  virtual model::SiteKind site_kind() const = 0;

  /// Largest rank the stored tensors support (1 for vector modules).
  virtual int64_t rank_max() const = 0;
  /// True when the rank is a searchable dimension (LoRA, adapters, prefix length).
  virtual bool ranked() const = 0;
  /// False for parts that are always kept (shared prefix parameters).
  virtual bool prunable() const { return true; }
  /// Exact number of trainable parameters at rank r (0 <= r <= rank_max; r = 0 means removed).
  virtual int64_t param_count(int64_t rank) const = 0;
  /// The trainable tensors sliced to rank r (views of the stored tensors), named relative to the module.
  virtual std::vector<NamedTensor> slices(int64_t rank) const = 0;
  /// Copies `tensors` (as returned by slices(r) of a module of the same kind) into the leading slices.
  void load_slices_(const std::vector<NamedTensor>& tensors);

  /// Sets the gate used by the following forwards.
  void set_gate(Gate g) { gate_ = std::move(g); }
  const Gate& gate() const { return gate_; }
  /// The rank the current gate runs at (rank_max for the default gate).
  int64_t active_rank() const { return gate_.rank < 0 ? rank_max() : gate_.rank; }
  /// The rank in effect: active_rank(), or the masked rank when the gate computes a longer slice
  /// behind a 0/1 mask (Gate::effective_rank).
  int64_t effective_rank() const { return gate_.effective_rank >= 0 ? gate_.effective_rank : active_rank(); }
  /// True when a forward at rank R with a gate mask that is 0 beyond d and effective_rank d equals the
  /// forward at rank d (the masked components are exactly absent), while the mask's gradient still
  /// sees them: LoRA and the adapters; not prefix tuning, whose masked prefix positions still take
  /// attention weight.
  virtual bool zero_mask_is_absent() const { return false; }
  /// How much each rank component acts, in component order (rank_max entries): the product of the
  /// norms of its down and up vectors (LoRA: |A[c,:]| |B[:,c]|); empty when the method has no such
  /// per-component measure. The search's --rank-energy reads it.
  virtual std::vector<double> component_weights() const { return {}; }

  /// Folds this module at rank r into the backbone's weights (merged export); returns false when the
  /// method cannot be merged into a T5 checkpoint (nothing is changed then).
  virtual bool merge_into_(model::T5ModelImpl& backbone, int64_t rank) const;
  /// This module at rank r as a Hugging Face PEFT part, or nullopt when PEFT cannot hold it.
  virtual std::optional<HfPeftPart> hf_peft_part(const model::T5ModelImpl& backbone, int64_t rank) const;

 protected:
  /// Casts x to the dtype of this module's parameters (PEFT weights stay float32 on a bf16 backbone).
  torch::Tensor to_param_dtype(const torch::Tensor& x) const;
  /// The A-side rank mask of the current gate for a slice of length r (undefined when none is set).
  torch::Tensor rank_mask(int64_t r) const;
  /// h * gate.up[:r] when an up-side weight is set, else h.
  torch::Tensor up_scale(const torch::Tensor& h, int64_t r) const;
  /// x * gate.on when an on-value is set, else x.
  torch::Tensor gate_on(const torch::Tensor& x) const;

  Gate gate_;

 private:
  std::string site_name_;
  std::string method_;
};

using PeftModulePtr = std::shared_ptr<PeftModule>;

}  // namespace bipeft::peft
