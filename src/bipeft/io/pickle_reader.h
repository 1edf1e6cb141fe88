#pragma once
// A restricted pickle interpreter for torch.save() state dicts. It never imports or calls anything:
// only a whitelist of globals is understood (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter, torch.*Storage), every other global is refused with a clear error.
// (LibTorch 1.13's own Unpickler maps collections.OrderedDict to None, so it cannot read HF state
// dicts, and it asserts on malformed input; this reader throws FormatError instead.)
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <c10/core/ScalarType.h>

namespace bipeft::io {

/// A reference to tensor data inside a storage, as _rebuild_tensor_v2 describes it.
struct PickledTensor {
  std::string storage_key;       // the persistent id's key (file name under data/ in zip archives)
  c10::ScalarType dtype = c10::kFloat;
  int64_t storage_numel = -1;    // as the persistent id says (-1 if not given)
  int64_t offset = 0;            // in elements
  std::vector<int64_t> size;
  std::vector<int64_t> stride;
};

struct PyObj;
using PyRef = std::shared_ptr<PyObj>;

/// A value of the restricted pickle world.
struct PyObj {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                             // Str, Bytes, Global ("module.name")
  std::vector<PyRef> items;                  // Tuple, List
  std::vector<std::pair<PyRef, PyRef>> dict; // Dict (insertion order)
  PickledTensor tensor;                      // Storage (key/dtype/numel) and Tensor
  int depth = 0;                             // nesting depth of containers below this value
  bool sealed = false;                       // inside another container: no longer mutable
};

/// Parses one pickle from `data[pos..]` (advances `pos` past STOP). `where` names the source in errors.
/// Throws FormatError on anything malformed or outside the whitelist. Values form a tree: a container
/// cannot change once it sits inside another one (so no cycles), and nesting stops at 64 levels.
PyRef read_pickle(const char* data, size_t size, size_t& pos, const std::string& where);

/// Turns a parsed state dict (Dict of str -> Tensor, possibly nested under "state_dict"/"model")
/// into name -> tensor reference. Throws FormatError when the object is not such a dict.
std::map<std::string, PickledTensor> state_dict_entries(const PyRef& root, const std::string& where);

}  // namespace bipeft::io
