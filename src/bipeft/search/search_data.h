#pragma once
// What every structure search shares, BIPEFT and the baselines alike: the budget checks against the
// space, the two tokenized halves of the train split (§5.1), a batch loss on the supernet and the
// non-finite-loss check.
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "bipeft/data/collate.h"
#include "bipeft/data/task.h"
#include "bipeft/dist/data_parallel.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/search/space.h"
#include "bipeft/text/tokenizer.h"

namespace bipeft::search {

/// Sizes of a supernet: parameters always kept (shared prefix parts), the smallest selectable module
/// (at its smallest candidate rank) and the whole space at the largest rank.
struct SpaceSizes {
  double shared = 0, smallest = 0, whole = 0;
  /// ConfigError for a budget below shared + smallest or at or above the whole space, naming the sizes.
  void check_budget(double budget) const;
};

/// The sizes of `supernet`'s prunable modules at `ranks` (ascending candidates).
SpaceSizes space_sizes(const peft::PeftModelImpl& supernet, const std::vector<int64_t>& ranks);

/// A supernet: every module of a space at the largest candidate rank, attached to the backbone, with
/// its prunable modules and sizes.
struct Supernet {
  peft::Structure space;
  peft::PeftModel model{nullptr};
  std::vector<peft::PeftModulePtr> modules;  // the prunable ones, in order
  SpaceSizes sizes;
};

/// Builds the supernet of `space` at `ranks` on `backbone` (modules initialised from `seed`) and checks
/// `budget` against it (SpaceSizes::check_budget). Detach it (model->detach_()) when done.
Supernet build_supernet(model::T5Model backbone, const SpaceOptions& space, const std::vector<int64_t>& ranks,
                        uint64_t seed, double budget);

/// The sizes of the space `space` at `ranks` on `backbone` (a supernet is built and dropped): lets a
/// caller check a budget before it writes anything.
SpaceSizes measure_space(model::T5Model backbone, const SpaceOptions& space, const std::vector<int64_t>& ranks);

/// The prunable modules of `supernet`, in order.
std::vector<peft::PeftModulePtr> prunable_modules(const peft::PeftModelImpl& supernet);

/// A chosen structure: `modules[i]` at `ranks[i]` (0 = left out; vector modules take 1), with `base`'s
/// options, and its exact trainable parameter count (`shared` counted when a prefix module is kept).
struct Selection {
  peft::Structure structure;
  double params = 0;
};
Selection select_modules(const std::vector<peft::PeftModulePtr>& modules, const std::vector<int64_t>& ranks,
                         const peft::Structure& base, double shared);

/// The search halves of `task`, tokenized: `train` trains PEFT weights, `val` the architecture.
/// FormatError when either is empty.
struct SearchHalves {
  std::vector<data::TokenizedExample> train, val;
};
SearchHalves tokenize_search_halves(const text::Tokenizer& tokenizer, const data::TaskData& task,
                                    int64_t max_train_examples);

/// Mean loss of `model` on the rows `idx` of `examples` (current gates; autograd as the caller set it).
at::Tensor batch_loss(model::T5ModelImpl& model, const std::vector<data::TokenizedExample>& examples,
                      const std::vector<size_t>& idx, int64_t pad_id);

/// This process's share of the mean loss of the global batch `idx` (data parallelism: its shard's loss
/// times the shard's loss weight; one process: batch_loss of `idx`). Undefined when the shard is empty.
at::Tensor batch_loss(const dist::DataParallel& dp, model::T5ModelImpl& model,
                      const std::vector<data::TokenizedExample>& examples, const std::vector<size_t>& idx,
                      int64_t pad_id);

/// The value of `loss`; NumericError naming `which` loss and the step when it is not finite.
double checked_loss(const at::Tensor& loss, const std::string& which, int64_t step);
/// `value`, or the same NumericError when it is not finite.
double checked_loss(double value, const std::string& which, int64_t step);

}  // namespace bipeft::search
