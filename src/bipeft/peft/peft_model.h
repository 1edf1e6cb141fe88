#pragma once
// A backbone with PEFT modules attached according to a Structure. Owns the modules (registered as
// submodules so parameters(), to() and saving see them) and attaches them to the backbone's sites;
// detaches them when destroyed.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "bipeft/io/safetensors.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_module.h"
#include "bipeft/peft/prefix.h"
#include "bipeft/peft/structure.h"

namespace bipeft::peft {

class PeftModelImpl : public torch::nn::Module {
 public:
  /// Builds the modules of `structure` on `backbone` (validated against its sites), initialised from
  /// `seed`, on the backbone's device, and attaches them.
  PeftModelImpl(model::T5Model backbone, const Structure& structure, uint64_t seed);
  ~PeftModelImpl() override;

  /// The structure at the modules' current sizes.
  Structure structure() const;
  /// Exact trainable parameter count: modules at their full rank, plus the backbone when fine-tuned.
  int64_t trainable_count() const;
  /// Every tensor the optimizer should update.
  std::vector<torch::Tensor> trainable_parameters();
  /// Module by id "<site>:<method>" (nullptr if absent).
  PeftModulePtr find(const std::string& id) const;

  /// Tensors in the native adapter format: "<site>.<method>.<name>" (shared prefix: "prefix_shared.<name>";
  /// fine-tuned backbone: "backbone.<hf name>"), each module at its full rank.
  io::NamedTensors native_tensors() const;
  /// Loads tensors written by native_tensors(); ShapeError/FormatError naming the tensor on mismatch.
  void load_native_(const io::SafetensorsReader& reader);

  /// Sets train/eval mode on the modules and the backbone (dropout).
  void train(bool on = true) override;
  void attach_();
  void detach_();

  model::T5Model backbone;
  std::vector<PeftModulePtr> modules;  // structure order; the shared prefix part (if any) first
  PeftOptions options;
  bool full_finetune = false;

 private:
  bool attached_ = false;
  std::map<std::string, model::Site*> site_of_;  // module id -> backbone site
};
TORCH_MODULE(PeftModel);

/// The native tensor name prefix of a module ("<site>.<method>" or "prefix_shared").
std::string native_prefix(const PeftModule& m);

}  // namespace bipeft::peft
