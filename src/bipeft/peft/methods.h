#pragma once
// The table of PEFT methods (where each may attach, whether its rank is searched) and the factory
// that builds a module from a (site, method, rank) entry. This is the only place that maps method
// names to types; search, trainer and exporter work through PeftModule.
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>

#include "bipeft/model/site.h"
#include "bipeft/peft/peft_module.h"
#include "bipeft/peft/prefix.h"

namespace bipeft::peft {

struct MethodInfo {
  std::string name;                            // as in structure files
  std::vector<model::SiteKind> kinds;          // site kinds it attaches to
  bool ranked = false;                         // rank is a searchable dimension
  std::vector<std::string> positions;          // site positions it may attach to
  std::vector<std::string> default_positions;  // used by manual shortcuts without --targets
  int64_t default_rank = 8;
  std::string help;
  std::string space;                               // the paper's search space that holds it: "s2" or "s1"
  std::vector<std::string> space_positions;        // its positions in that space (self-attention, FFN, norms)
  std::vector<std::string> cross_space_positions;  // added to them by --cross-attention
  bool shared_params = false;  // its modules also use the model-wide shared parameters (the prefix generator)
};

/// Every method, in a fixed order.
const std::vector<MethodInfo>& methods();
/// The method `name` (aliases: adapter -> serial_adapter, adapter-lr -> adapter_lr, ...); throws
/// ConfigError listing the known methods.
const MethodInfo& method_info(const std::string& name);

/// The methods of the paper's space `space` ("s2": LoRA, Adapter-LR, BitFit, LNFit; "s1": serial and
/// parallel adapters, prefix), in table order; empty for another name.
std::vector<std::string> space_methods(const std::string& space);
/// method_info(name).shared_params: a structure holding it also counts the shared parameters.
bool uses_shared_params(const std::string& name);

/// Sizes shared by every module of one model.
struct PeftOptions {
  int64_t adapter_lr_reduction = 32;  // Adapter-LR bottleneck = d_model / reduction (>= 1), §3.4
  int64_t prefix_mid = 2;             // width of the shared prefix generator, §3.6
  int64_t prefix_length_max = 8;      // rows of the shared prefix embedding (>= every prefix rank)
  void validate() const;
};

/// One entry of a structure: a method at a site with a rank (1 for vector methods).
struct ModuleSpec {
  std::string site;    // HF module name of the attach point
  std::string method;  // canonical method name
  int64_t rank = 1;
  bool operator==(const ModuleSpec& o) const { return site == o.site && method == o.method && rank == o.rank; }
};

/// True when `target` (a position such as "q", "wi", "all", "cross", or a full module name) selects
/// `site` for `method`.
bool target_matches(const std::string& target, const model::SiteInfo& site, const MethodInfo& method);

/// Builds the module for `spec` at `site`. `shared` must be set for prefix modules.
PeftModulePtr make_module(const ModuleSpec& spec, const model::SiteInfo& site, const PeftOptions& options,
                          const std::shared_ptr<PrefixSharedImpl>& shared, int64_t d_model, at::Generator& gen);

}  // namespace bipeft::peft
