#include "bipeft/dist/data_parallel.h"

#include <cmath>

#include <ATen/ATen.h>

#include "bipeft/data/splits.h"

namespace bipeft::dist {

uint64_t DataParallel::process_seed(uint64_t seed) const {
  return rank() == 0 ? seed : data::derive_seed(seed, 5000 + static_cast<uint64_t>(rank()));
}

std::vector<size_t> DataParallel::shard(const std::vector<size_t>& global) const {
  if (!active()) return global;
  const size_t b = global.size(), w = static_cast<size_t>(world_size()), r = static_cast<size_t>(rank());
  return {global.begin() + static_cast<std::ptrdiff_t>(r * b / w), global.begin() + static_cast<std::ptrdiff_t>((r + 1) * b / w)};
}

double DataParallel::loss_weight(const std::vector<data::TokenizedExample>& examples,
                                 const std::vector<size_t>& global) const {
  if (!active()) return 1.0;
  double all = 0, mine = 0;
  for (size_t i : global) all += static_cast<double>(examples[i].target_ids.size());
  for (size_t i : shard(global)) mine += static_cast<double>(examples[i].target_ids.size());
  return all > 0 ? mine / all : 0.0;
}

at::Tensor DataParallel::shard_loss(const std::vector<data::TokenizedExample>& examples, const std::vector<size_t>& global,
                                   const std::function<at::Tensor(const std::vector<size_t>&)>& loss_of) const {
  if (!active()) return loss_of(global);
  const auto rows = shard(global);
  if (rows.empty()) return {};
  return loss_of(rows) * loss_weight(examples, global);
}

double DataParallel::backward_(const at::Tensor& loss, const at::Tensor& extra, const std::vector<at::Tensor>& params) const {
  double value = loss.defined() ? loss.item<double>() : 0.0;
  auto objective = loss;
  if (writer() && extra.defined()) objective = objective.defined() ? objective + extra : extra;
  // A sample that switched every module off leaves no trainable weight in the graph: nothing to learn.
  if (objective.defined() && objective.requires_grad() && std::isfinite(value)) objective.backward();
  sum_gradients_(params, &value);
  return value;
}

void DataParallel::sum_gradients_(const std::vector<at::Tensor>& params, double* loss) const {
  if (!active()) return;
  at::NoGradGuard ng;
  const int64_t n = static_cast<int64_t>(params.size());
  // One small sum first: how many processes hold each gradient, and the weighted losses.
  auto control = at::zeros({n + 1}, at::kDouble);
  auto* c = control.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) c[i] = params[i].grad().defined() ? 1.0 : 0.0;
  c[n] = loss != nullptr ? *loss : 0.0;
  std::vector<at::Tensor> t{control};
  comm_->all_reduce_sum(t);
  c = t[0].data_ptr<double>();
  if (loss != nullptr) *loss = c[n];
  // Then every gradient some process holds, flattened into one buffer on the communicator's device
  // (the host for Gloo, this process's GPU for NCCL).
  std::vector<at::Tensor> grads, parts;
  for (int64_t i = 0; i < n; ++i) {
    if (c[i] == 0.0) continue;
    auto p = params[i];
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
    parts.push_back(p.grad().reshape({-1}).to(comm_->device(), at::kFloat));
  }
  if (parts.empty()) return;
  std::vector<at::Tensor> flat{at::cat(parts)};
  comm_->all_reduce_sum(flat);
  int64_t offset = 0;
  for (auto& g : grads) {
    const int64_t k = g.numel();
    g.copy_(flat[0].slice(0, offset, offset + k).view(g.sizes()));
    offset += k;
  }
}

void DataParallel::sum_(const at::Tensor& t) const {
  if (!active()) return;
  std::vector<at::Tensor> v{t.to(comm_->device()).contiguous()};
  comm_->all_reduce_sum(v);
  if (!v[0].is_same(t)) t.copy_(v[0]);
}

bool DataParallel::any(bool local) const {
  if (!active()) return local;
  auto t = at::full({1}, local ? 1.0 : 0.0, at::kDouble);
  sum_(t);
  return t.item<double>() > 0.0;
}

void DataParallel::broadcast_from_writer_(const std::vector<at::Tensor>& tensors) const {
  if (!active()) return;
  at::NoGradGuard ng;
  for (auto dst : tensors) {
    std::vector<at::Tensor> t{dst.detach().to(comm_->device()).contiguous().clone()};
    comm_->broadcast(t, 0);
    dst.copy_(t[0]);
  }
}

}  // namespace bipeft::dist
