#include "bipeft/io/pickle_reader.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "bipeft/core/error.h"

namespace bipeft::io {

namespace {

constexpr size_t kMaxStack = 1u << 20;
constexpr size_t kMaxMemo = 1u << 24;
constexpr size_t kMaxItems = 1u << 26;
// Real state dicts nest a few levels (dict -> tensor args tuple -> size tuple); the limit keeps the
// recursive destruction of PyObj trees far from the stack limit.
constexpr int kMaxDepth = 64;

PyRef make(PyObj::Kind k) {
  auto p = std::make_shared<PyObj>();
  p->kind = k;
  return p;
}

std::optional<c10::ScalarType> storage_dtype(const std::string& cls) {
  static const std::pair<const char*, c10::ScalarType> table[] = {
      {"FloatStorage", c10::kFloat},   {"DoubleStorage", c10::kDouble}, {"HalfStorage", c10::kHalf},
      {"BFloat16Storage", c10::kBFloat16}, {"LongStorage", c10::kLong}, {"IntStorage", c10::kInt},
      {"ShortStorage", c10::kShort},   {"CharStorage", c10::kChar},     {"ByteStorage", c10::kByte},
      {"BoolStorage", c10::kBool}};
  for (const auto& [n, t] : table)
    if (cls == n) return t;
  return std::nullopt;
}

class Machine {
 public:
  Machine(const char* data, size_t size, size_t& pos, std::string where)
      : d_(data), n_(size), pos_(pos), where_(std::move(where)) {}

  PyRef run() {
    while (true) {
      const size_t at = pos_;
      const uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;                         // PROTO
        case 0x95: skip(8); break;                      // FRAME
        case '.': {                                     // STOP
          if (stack_.size() != 1) fail(at, "STOP with " + std::to_string(stack_.size()) + " values on the stack");
          return stack_.back();
        }
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case ')': push(make(PyObj::Kind::Tuple)); break;   // EMPTY_TUPLE
        case '}': push(make(PyObj::Kind::Dict)); break;    // EMPTY_DICT
        case ']': push(make(PyObj::Kind::List)); break;    // EMPTY_LIST
        case 'N': push(make(PyObj::Kind::None)); break;
        case 0x88: case 0x89: {                             // NEWTRUE / NEWFALSE
          auto p = make(PyObj::Kind::Bool);
          p->b = op == 0x88;
          push(p);
          break;
        }
        case 'J': push_int(static_cast<int32_t>(u32())); break;  // BININT
        case 'K': push_int(u8()); break;                          // BININT1
        case 'M': push_int(u16()); break;                         // BININT2
        case 0x8a: {                                              // LONG1
          uint8_t len = u8();
          if (len > 8) fail(at, "integer of " + std::to_string(len) + " bytes is too large");
          const char* p = take(len);
          uint64_t v = 0;
          for (int k = len - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(p[k]);
          if (len > 0 && len < 8 && (static_cast<unsigned char>(p[len - 1]) & 0x80)) v |= ~0ull << (8 * len);
          push_int(static_cast<int64_t>(v));
          break;
        }
        case 'G': {                                               // BINFLOAT (big-endian double)
          const char* p = take(8);
          uint64_t v = 0;
          for (int k = 0; k < 8; ++k) v = (v << 8) | static_cast<unsigned char>(p[k]);
          double dv;
          std::memcpy(&dv, &v, 8);
          auto o = make(PyObj::Kind::Float);
          o->f = dv;
          push(o);
          break;
        }
        case 'X': push_str(PyObj::Kind::Str, u32()); break;      // BINUNICODE
        case 0x8c: push_str(PyObj::Kind::Str, u8()); break;     // SHORT_BINUNICODE
        case 0x8d: push_str(PyObj::Kind::Str, u64()); break;    // BINUNICODE8
        case 'T': push_str(PyObj::Kind::Str, u32()); break;      // BINSTRING
        case 'U': push_str(PyObj::Kind::Str, u8()); break;      // SHORT_BINSTRING
        case 'B': push_str(PyObj::Kind::Bytes, u32()); break;    // BINBYTES
        case 'C': push_str(PyObj::Kind::Bytes, u8()); break;    // SHORT_BINBYTES
        case 0x8e: push_str(PyObj::Kind::Bytes, u64()); break;  // BINBYTES8
        case 'q': memo_put(u8()); break;                          // BINPUT
        case 'r': memo_put(u32()); break;                         // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;                 // MEMOIZE
        case 'h': memo_get(at, u8()); break;                      // BINGET
        case 'j': memo_get(at, u32()); break;                     // LONG_BINGET
        case '0': pop(at); break;                                 // POP
        case '1': pop_mark(at); break;                            // POP_MARK
        case '2': push(top(at)); break;                           // DUP
        case 't': {                                               // TUPLE
          auto t = make(PyObj::Kind::Tuple);
          for (auto& v : pop_mark(at)) add_item(at, t, v);
          push(t);
          break;
        }
        case 0x85: case 0x86: case 0x87: {                        // TUPLE1..3
          size_t k = op - 0x84;
          if (stack_.size() < k) fail(at, "TUPLE" + std::to_string(k) + " on a short stack");
          auto t = make(PyObj::Kind::Tuple);
          std::vector<PyRef> vs(stack_.end() - static_cast<long>(k), stack_.end());
          stack_.resize(stack_.size() - k);
          for (auto& v : vs) add_item(at, t, v);
          push(t);
          break;
        }
        case 'a': {                                               // APPEND
          auto v = pop(at);
          auto l = top(at);
          if (l->kind != PyObj::Kind::List) fail(at, "APPEND to a non-list");
          add_item(at, l, v);
          break;
        }
        case 'e': {                                               // APPENDS
          auto vs = pop_mark(at);
          auto l = top(at);
          if (l->kind != PyObj::Kind::List) fail(at, "APPENDS to a non-list");
          for (auto& v : vs) add_item(at, l, v);
          break;
        }
        case 's': {                                               // SETITEM
          auto v = pop(at);
          auto k = pop(at);
          auto dct = top(at);
          set_item(at, dct, k, v);
          break;
        }
        case 'u': {                                               // SETITEMS
          auto vs = pop_mark(at);
          if (vs.size() % 2) fail(at, "SETITEMS with an odd number of values");
          auto dct = top(at);
          for (size_t k = 0; k < vs.size(); k += 2) set_item(at, dct, vs[k], vs[k + 1]);
          break;
        }
        case 'c': {                                               // GLOBAL "module\nname\n"
          std::string mod = line(at), name = line(at);
          push_global(at, mod, name);
          break;
        }
        case 0x93: {                                              // STACK_GLOBAL
          auto name = pop(at), mod = pop(at);
          if (name->kind != PyObj::Kind::Str || mod->kind != PyObj::Kind::Str) fail(at, "STACK_GLOBAL needs two strings");
          push_global(at, mod->s, name->s);
          break;
        }
        case 'Q': {                                               // BINPERSID
          auto pid = pop(at);
          push(persistent(at, pid));
          break;
        }
        case 'R': {                                               // REDUCE
          auto args = pop(at);
          auto fn = pop(at);
          push(reduce(at, fn, args));
          break;
        }
        case 0x81: {                                              // NEWOBJ (cls, args)
          auto args = pop(at);
          auto cls = pop(at);
          push(reduce(at, cls, args));
          break;
        }
        case 'b': {                                               // BUILD: only dict state (ignored)
          auto state = pop(at);
          auto obj = top(at);
          if (obj->kind != PyObj::Kind::Dict && obj->kind != PyObj::Kind::Tensor)
            fail(at, "BUILD on an unsupported object");
          break;
        }
        default:
          fail(at, "unsupported pickle opcode 0x" + hex(op) + " (only torch.save state dicts are read)");
      }
    }
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    throw FormatError(where_ + ": " + what + " at byte " + std::to_string(at) +
                      "; the file is not a torch state dict or is corrupt (convert it to safetensors)");
  }
  static std::string hex(unsigned v) {
    const char* digits = "0123456789abcdef";
    return std::string{digits[(v >> 4) & 15], digits[v & 15]};
  }
  const char* take(size_t k) {
    if (k > n_ - pos_) fail(pos_, "unexpected end of data");
    const char* p = d_ + pos_;
    pos_ += k;
    return p;
  }
  void skip(size_t k) { take(k); }
  uint8_t u8() { return static_cast<uint8_t>(*take(1)); }
  uint16_t u16() {
    const char* p = take(2);
    return static_cast<uint16_t>(static_cast<unsigned char>(p[0]) | (static_cast<unsigned char>(p[1]) << 8));
  }
  uint32_t u32() {
    const char* p = take(4);
    uint32_t v = 0;
    for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(p[k]);
    return v;
  }
  uint64_t u64() {
    const char* p = take(8);
    uint64_t v = 0;
    for (int k = 7; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(p[k]);
    return v;
  }
  std::string line(size_t at) {
    size_t start = pos_;
    while (pos_ < n_ && d_[pos_] != '\n') ++pos_;
    if (pos_ >= n_) fail(at, "unterminated GLOBAL");
    std::string s(d_ + start, pos_ - start);
    ++pos_;
    return s;
  }
  void push(PyRef v) {
    if (stack_.size() >= kMaxStack) fail(pos_, "pickle stack too deep");
    stack_.push_back(std::move(v));
  }
  void push_int(int64_t v) {
    auto o = make(PyObj::Kind::Int);
    o->i = v;
    push(o);
  }
  void push_str(PyObj::Kind k, uint64_t len) {
    const char* p = take(len);
    auto o = make(k);
    o->s.assign(p, len);
    push(o);
  }
  PyRef pop(size_t at) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail(at, "pop from an empty stack");
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyRef top(size_t at) {
    if (stack_.empty()) fail(at, "empty stack");
    return stack_.back();
  }
  std::vector<PyRef> pop_mark(size_t at) {
    if (marks_.empty()) fail(at, "no MARK");
    size_t m = marks_.back();
    marks_.pop_back();
    if (m > stack_.size()) fail(at, "bad MARK");
    std::vector<PyRef> out(stack_.begin() + static_cast<long>(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  void memo_put(uint64_t idx) {
    if (stack_.empty()) fail(pos_, "memo put on an empty stack");
    if (memo_.size() >= kMaxMemo && memo_.count(idx) == 0) fail(pos_, "too many memo entries");
    memo_[idx] = stack_.back();
  }
  void memo_get(size_t at, uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail(at, "memo index " + std::to_string(idx) + " was never stored");
    push(it->second);
  }
  /// Makes `child` part of `parent`: the child is sealed (a container already inside another one cannot
  /// be changed, which rules out cycles) and the parent's depth grows past the child's.
  void adopt(size_t at, const PyRef& parent, const PyRef& child) {
    if (parent->sealed || parent == child) fail(at, "modifying a container that is already inside another one");
    if (++items_ > kMaxItems) fail(at, "too many items");
    child->sealed = true;
    parent->depth = std::max(parent->depth, child->depth + 1);
    if (parent->depth > kMaxDepth) fail(at, "values nested more than " + std::to_string(kMaxDepth) + " levels deep");
  }
  void add_item(size_t at, const PyRef& l, const PyRef& v) {
    adopt(at, l, v);
    l->items.push_back(v);
  }
  void set_item(size_t at, const PyRef& dct, const PyRef& k, const PyRef& v) {
    if (dct->kind != PyObj::Kind::Dict) fail(at, "SETITEM on a non-dict");
    adopt(at, dct, k);
    adopt(at, dct, v);
    dct->dict.emplace_back(k, v);
  }
  void push_global(size_t at, const std::string& mod, const std::string& name) {
    const std::string full = mod + "." + name;
    bool ok = full == "collections.OrderedDict" || full == "torch._utils._rebuild_tensor_v2" ||
              full == "torch._utils._rebuild_parameter" || full == "builtins.dict" ||
              (mod == "torch" && storage_dtype(name).has_value());
    if (!ok)
      fail(at, "refusing to load global '" + full + "' (only tensors, storages and dicts are allowed)");
    auto g = make(PyObj::Kind::Global);
    g->s = full;
    push(g);
  }
  PyRef persistent(size_t at, const PyRef& pid) {
    // ('storage', storage_type, key, location, numel[, view_metadata])
    if (pid->kind != PyObj::Kind::Tuple || pid->items.size() < 5 || pid->items[0]->kind != PyObj::Kind::Str ||
        pid->items[0]->s != "storage")
      fail(at, "unsupported persistent id");
    const auto& type = pid->items[1];
    const auto& key = pid->items[2];
    const auto& numel = pid->items[4];
    if (type->kind != PyObj::Kind::Global || key->kind != PyObj::Kind::Str || numel->kind != PyObj::Kind::Int)
      fail(at, "malformed storage reference");
    auto dt = storage_dtype(type->s.substr(type->s.rfind('.') + 1));
    if (!dt) fail(at, "unsupported storage type '" + type->s + "'");
    if (numel->i < 0) fail(at, "negative storage size");
    auto st = make(PyObj::Kind::Storage);
    st->tensor.storage_key = key->s;
    st->tensor.dtype = *dt;
    st->tensor.storage_numel = numel->i;
    return st;
  }
  std::vector<int64_t> int_tuple(size_t at, const PyRef& t, const char* what) {
    if (t->kind != PyObj::Kind::Tuple) fail(at, std::string(what) + " must be a tuple");
    std::vector<int64_t> out;
    for (const auto& x : t->items) {
      if (x->kind != PyObj::Kind::Int || x->i < 0) fail(at, std::string(what) + " must hold non-negative ints");
      out.push_back(x->i);
    }
    return out;
  }
  PyRef reduce(size_t at, const PyRef& fn, const PyRef& args) {
    if (fn->kind != PyObj::Kind::Global) fail(at, "REDUCE on a non-callable");
    if (args->kind != PyObj::Kind::Tuple) fail(at, "REDUCE arguments must be a tuple");
    if (fn->s == "collections.OrderedDict" || fn->s == "builtins.dict") {
      auto dct = make(PyObj::Kind::Dict);
      return dct;
    }
    if (fn->s == "torch._utils._rebuild_parameter") {
      if (args->items.empty() || args->items[0]->kind != PyObj::Kind::Tensor) fail(at, "bad _rebuild_parameter");
      return args->items[0];
    }
    if (fn->s == "torch._utils._rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args->items.size() < 4 || args->items[0]->kind != PyObj::Kind::Storage ||
          args->items[1]->kind != PyObj::Kind::Int)
        fail(at, "bad _rebuild_tensor_v2 arguments");
      auto t = make(PyObj::Kind::Tensor);
      t->tensor = args->items[0]->tensor;
      t->tensor.offset = args->items[1]->i;
      t->tensor.size = int_tuple(at, args->items[2], "tensor size");
      t->tensor.stride = int_tuple(at, args->items[3], "tensor stride");
      if (t->tensor.offset < 0 || t->tensor.size.size() != t->tensor.stride.size())
        fail(at, "bad tensor geometry");
      return t;
    }
    fail(at, "cannot call '" + fn->s + "'");
  }

  const char* d_;
  size_t n_;
  size_t& pos_;
  std::string where_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyRef> memo_;
  size_t items_ = 0;
};

}  // namespace

PyRef read_pickle(const char* data, size_t size, size_t& pos, const std::string& where) {
  Machine m(data, size, pos, where);
  return m.run();
}

std::map<std::string, PickledTensor> state_dict_entries(const PyRef& root, const std::string& where) {
  const PyObj* d = root.get();
  // Some trainers wrap the weights: {"state_dict": {...}} or {"model": {...}}.
  for (int depth = 0; depth < 2 && d->kind == PyObj::Kind::Dict; ++depth) {
    const PyObj* inner = nullptr;
    bool has_tensor = false;
    for (const auto& [k, v] : d->dict) {
      if (v->kind == PyObj::Kind::Tensor) has_tensor = true;
      if (k->kind == PyObj::Kind::Str && (k->s == "state_dict" || k->s == "model") && v->kind == PyObj::Kind::Dict)
        inner = v.get();
    }
    if (has_tensor || inner == nullptr) break;
    d = inner;
  }
  if (d->kind != PyObj::Kind::Dict) throw FormatError(where + ": expected a dict of tensors (a state dict)");
  std::map<std::string, PickledTensor> out;
  for (const auto& [k, v] : d->dict) {
    if (k->kind != PyObj::Kind::Str) throw FormatError(where + ": state dict key is not a string");
    if (v->kind != PyObj::Kind::Tensor) continue;  // e.g. non-tensor extras
    out[k->s] = v->tensor;
  }
  if (out.empty()) throw FormatError(where + ": holds no tensors");
  return out;
}

}  // namespace bipeft::io
