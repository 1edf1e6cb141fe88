#pragma once
// How a PEFT module runs in one forward pass: at which rank (the leading slice of its max-rank
// tensors, weight entanglement) and behind which differentiable gate values. Plain training uses the
// default (full rank, no gate tensors); the search sets sampled gates every step (ALGORITHM.md §4.4).
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace bipeft::peft {

struct Gate {
  /// Slice length to compute: -1 = the module's rank_max, 0 = off (output unchanged unless `on` is set).
  int64_t rank = -1;
  /// Optional [rank] weights on the rank slice, applied on the "A"/down side only; their value is 1 for
  /// the selected slice and they carry the architecture gradient (the "B"/up side is stop-gradient).
  at::Tensor mask;
  /// Optional scalar on/off value for vector modules and biases (0 or 1 in value, differentiable).
  at::Tensor on;
  /// Optional [rank] stop-gradient weights on the up/"B" side; only soft (non-one-hot) samples need it,
  /// hard samples leave it undefined (all ones).
  at::Tensor up;
  /// When >= 0: the slice computed is `rank` but `mask` is 0 beyond this rank, so the module acts at
  /// this rank (and this many components count as active) while the mask's gradient sees the rest.
  int64_t effective_rank = -1;

  /// Full rank, no gate tensors: plain training and evaluation.
  static Gate full() { return Gate{}; }
  /// A fixed rank without gradients (rank 0 = off).
  static Gate fixed(int64_t rank) {
    Gate g;
    g.rank = rank;
    return g;
  }
};

}  // namespace bipeft::peft
