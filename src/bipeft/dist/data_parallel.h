#pragma once
// What the search and the trainer need to run as N data-parallel processes: which rows of a global
// batch this process computes, the weight of its shard's loss in the global mean, gradient sums,
// agreement on stopping, and one process's decisions copied to all. With no communicator (one
// process) every call is the identity, so the loops have one code path.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "bipeft/data/collate.h"
#include "bipeft/dist/communicator.h"

namespace bipeft::dist {

class DataParallel {
 public:
  /// `comm` may be null (one process).
  explicit DataParallel(std::shared_ptr<Communicator> comm = nullptr) : comm_(std::move(comm)) {}

  bool active() const { return comm_ != nullptr && comm_->world_size() > 1; }
  int rank() const { return comm_ ? comm_->rank() : 0; }
  int world_size() const { return comm_ ? comm_->world_size() : 1; }
  /// Whether this process handles batch `batch_index` of a round-robin split (evaluation, held-out
  /// losses): index mod world size == rank; always in one process.
  bool takes(size_t batch_index) const {
    return !active() || static_cast<int>(batch_index % static_cast<size_t>(world_size())) == rank();
  }
  /// Only rank 0 writes outputs, saves state and counts once-per-run terms (regularisers).
  bool writer() const { return rank() == 0; }

  /// The seed of this process's own random draws (dropout): `seed` on rank 0 (and in one process),
  /// a stream derived from it on the others.
  uint64_t process_seed(uint64_t seed) const;

  /// This process's rows of a global batch: the contiguous slice [r*B/W, (r+1)*B/W). May be empty
  /// when the batch has fewer rows than processes.
  std::vector<size_t> shard(const std::vector<size_t>& global) const;

  /// The weight of a shard's token-mean loss in the global token-mean: the shard's target tokens over
  /// the global batch's (1 for one process). Losses weighted this way and summed over processes are
  /// the one-process loss, and so are their gradients.
  double loss_weight(const std::vector<data::TokenizedExample>& examples, const std::vector<size_t>& global) const;

  /// This process's part of the loss of the global batch `global` of `examples`: `loss_of(its shard)`
  /// times the shard's loss weight (one process: `loss_of(global)`); undefined when the shard is empty.
  at::Tensor shard_loss(const std::vector<data::TokenizedExample>& examples, const std::vector<size_t>& global,
                        const std::function<at::Tensor(const std::vector<size_t>&)>& loss_of) const;

  /// Backward of this process's `loss` (from shard_loss; may be undefined) plus `extra` (a term of the
  /// objective that belongs to no batch, e.g. a regulariser: counted once, on rank 0; may be undefined),
  /// then the gradients of `params` summed over processes. Returns the global batch loss (without
  /// `extra`); when it is not finite nothing was back-propagated and the caller should stop.
  double backward_(const at::Tensor& loss, const at::Tensor& extra, const std::vector<at::Tensor>& params) const;

  /// Sums the gradients of `params` over processes, in one flat buffer, together with `*loss` (the
  /// weighted loss, replaced by the global one). A parameter without a gradient on every process stays
  /// without one; with a gradient on some processes only, the others count it as zero. No-op for one
  /// process.
  void sum_gradients_(const std::vector<at::Tensor>& params, double* loss = nullptr) const;

  /// Replaces `t` by its sum over processes (no-op for one process).
  void sum_(const at::Tensor& t) const;

  /// True on every process when `local` is true on any (a stop request seen by one process stops all
  /// at the same step).
  bool any(bool local) const;

  /// Copies rank 0's values of `tensors` into every process's (initial weights, decisions).
  void broadcast_from_writer_(const std::vector<at::Tensor>& tensors) const;

  const std::shared_ptr<Communicator>& communicator() const { return comm_; }

 private:
  std::shared_ptr<Communicator> comm_;
};

}  // namespace bipeft::dist
