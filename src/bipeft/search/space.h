#pragma once
// Search spaces (ALGORITHM.md §2.1): the supernet structure over which the search runs.
//   s2: LoRA on q,k,v,o,wi(,wi_0,wi_1),wo; Adapter-LR after attention and FFN; BitFit on those linear
//       outputs and on every layer norm; LNFit on every layer norm (the paper's main space).
//   s1: serial and parallel adapters on the FFN, prefix in self-attention (the AutoPEFT-style space).
//   or a comma list of methods, each placed at its s2/s1 positions.
// Cross-attention positions (beyond the paper) are added with `cross_attention`.
#include <string>
#include <vector>

#include "bipeft/model/site.h"
#include "bipeft/peft/structure.h"

namespace bipeft::search {

struct SpaceOptions {
  std::string space = "s2";            // s2, s1, or a comma list of methods
  std::vector<int64_t> ranks{1, 4, 8};  // candidate ranks D (ascending, >= 1); modules are built at max(D)
  bool cross_attention = false;         // also place modules on cross-attention positions
  /// Only these positions of the space (q, v, wo, attn, ffn_ln, ...; empty: all of them), e.g. LoRA
  /// on q,v only. Throws from build_space when one is not a position of any chosen method.
  std::vector<std::string> positions;
  void validate() const;
};

/// The supernet: every module of the space at rank max(D). Throws ConfigError for an unknown space
/// or method.
peft::Structure build_space(const SpaceOptions& options, const std::vector<model::SiteInfo>& sites);

}  // namespace bipeft::search
