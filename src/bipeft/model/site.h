#pragma once
// Attach points of the backbone. Every place a PEFT module can act (a linear layer, a layer norm, a
// whole sublayer, the attention context) owns a Site; PEFT modules implement SiteHook and are added
// to sites by name. The backbone never knows which PEFT method is attached.
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace bipeft::model {

class T5AttentionImpl;

/// What an attach point hands to its hooks.
enum class SiteKind {
  Linear,     // input: the linear's input x; output: x W^T
  Norm,       // input: the normalized x / rms(x) before the scale; output: weight * input
  Sublayer,   // input: the sublayer's (normed) input; output: the sublayer's output before the residual add
  Attention,  // input: query states [B, H, Tq, d_kv]; output: per-head context [B, H, Tq, d_kv]
};

/// Short lower-case name of a site kind ("linear", "norm", "sublayer", "attention").
const char* site_kind_name(SiteKind kind);

/// A change to the output of one attach point.
class SiteHook {
 public:
  virtual ~SiteHook() = default;
  /// Returns the site's new output given its input and its current output.
  virtual at::Tensor apply(const at::Tensor& input, const at::Tensor& output) = 0;
  /// Position among the hooks of one site; smaller runs first (ALGORITHM.md §2.1 order).
  virtual int order() const = 0;
};

/// The hooks of one attach point, run in order().
class Site {
 public:
  bool empty() const { return hooks_.empty(); }
  /// Runs every hook on (input, output) and returns the final output.
  at::Tensor apply(const at::Tensor& input, at::Tensor output) const {
    for (const auto& h : hooks_) output = h->apply(input, output);
    return output;
  }
  /// Adds a hook, keeping the hooks sorted by order() (stable for equal orders).
  void add(std::shared_ptr<SiteHook> hook);
  /// Removes one hook (no-op if absent).
  void remove(const SiteHook* hook);
  void clear() { hooks_.clear(); }
  const std::vector<std::shared_ptr<SiteHook>>& hooks() const { return hooks_; }

 private:
  std::vector<std::shared_ptr<SiteHook>> hooks_;
};

/// Where a site sits and how wide it is: what the PEFT library needs to place and size a module.
struct SiteInfo {
  std::string name;        // Hugging Face module name, e.g. "encoder.block.0.layer.0.SelfAttention.q"
  SiteKind kind = SiteKind::Linear;
  std::string position;    // role in the block: q k v o wi wi_0 wi_1 wo (self-attention and FFN),
                           // cross_q cross_k cross_v cross_o, attn_ln ffn_ln cross_ln final_ln,
                           // attn ffn cross (sublayers), attn_scores (attention context)
  int64_t in_features = 0;   // Linear: input width; Norm/Sublayer: width; Attention: d_kv
  int64_t out_features = 0;  // Linear: output width; Norm/Sublayer: width; Attention: num_heads
  bool decoder = false;
  int64_t block = -1;      // block index inside its stack, -1 for stack-level sites
  int64_t layer = -1;      // global layer index: encoder blocks first, then decoder blocks; -1 stack-level
  Site* site = nullptr;    // where hooks go (owned by the backbone)
  T5AttentionImpl* attention = nullptr;  // Attention sites: the attention module (its k/v projections)
};

}  // namespace bipeft::model
