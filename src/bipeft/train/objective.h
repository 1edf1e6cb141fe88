#pragma once
// What an optimizer step minimises on one batch. Search and training take it from their options, so a
// caller can swap the objective (the planted benchmark distils a teacher's distributions) without the
// loops knowing. Empty = the teacher-forced cross-entropy on the batch labels (the paper's loss).
#include <functional>

#include <ATen/core/Tensor.h>

#include "bipeft/data/collate.h"
#include "bipeft/model/t5_model.h"

namespace bipeft::train {

/// Scalar loss of `model` on `batch` (CPU tensors; the objective moves them to the model's device).
using BatchObjective = std::function<at::Tensor(model::T5ModelImpl& model, const data::Batch& batch)>;

/// `objective(model, batch)`, or the label cross-entropy when `objective` is empty.
inline at::Tensor objective_loss(const BatchObjective& objective, model::T5ModelImpl& model, const data::Batch& batch) {
  if (objective) return objective(model, batch);
  const auto device = model.shared->weight.device();
  return model.forward(batch.input_ids.to(device), batch.attention_mask.to(device), {}, batch.labels.to(device)).loss;
}

}  // namespace bipeft::train
