#include "bipeft/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/dtype.h"
#include "bipeft/io/file_util.h"

namespace bipeft::io {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the format's own limit (100 MB)

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void write_u64_le(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t as_u64(const nlohmann::json& v, const std::string& where) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  throw FormatError(where + " must be a non-negative integer, found " + v.dump());
}

}  // namespace

SafetensorsReader SafetensorsReader::open(const std::string& path) { return SafetensorsReader(map_file(path)); }

SafetensorsReader::SafetensorsReader(std::shared_ptr<const ByteBuffer> bytes) : bytes_(std::move(bytes)) {
  const std::string& file = bytes_->label();
  const uint64_t size = bytes_->size();
  if (size < 8)
    throw FormatError(file + ": truncated safetensors file (" + std::to_string(size) +
                      " bytes; a header length needs 8); re-download or re-export it");
  const uint64_t n = read_u64_le(bytes_->data());
  if (n > size - 8)
    throw FormatError(file + ": header length " + std::to_string(n) + " runs past the end of the file (" +
                      std::to_string(size) + " bytes); the file is truncated or not safetensors");
  if (n > kMaxHeaderBytes)
    throw FormatError(file + ": header length " + std::to_string(n) + " exceeds the 100 MB limit of the format");
  data_start_ = 8 + n;
  const uint64_t data_size = size - data_start_;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes_->data() + 8, bytes_->data() + 8 + n);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(file + ": header is not valid JSON (byte " + std::to_string(e.byte) + " of the header)");
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number too large for a double
    throw FormatError(file + ": header is not valid JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw FormatError(file + ": header must be a JSON object, found " + header.type_name());

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw FormatError(file + ": __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw FormatError(file + ": __metadata__['" + m.key() + "'] must be a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = file + ": tensor '" + name + "'";
    if (!v.is_object()) throw FormatError(where + ": entry must be an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) throw FormatError(where + ": missing or non-string 'dtype'");
    if (sh == v.end() || !sh->is_array()) throw FormatError(where + ": missing or non-array 'shape'");
    if (off == v.end() || !off->is_array() || off->size() != 2)
      throw FormatError(where + ": 'data_offsets' must be [begin, end]");
    SafetensorsEntry e;
    e.name = name;
    e.dtype_name = dt->get<std::string>();
    auto st = dtype_from_safetensors(e.dtype_name);
    if (!st) throw FormatError(where + ": unsupported dtype '" + e.dtype_name + "'");
    e.dtype = *st;
    // numel with overflow checks. Zero dimensions count as 1 in the check: LibTorch computes the
    // contiguous strides of an empty tensor from the other dimensions and throws when they overflow.
    constexpr uint64_t kMaxNumel = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t numel = 1, strided = 1;
    for (const auto& d : *sh) {
      uint64_t dim = as_u64(d, where + " shape entry");
      if (dim > kMaxNumel) throw FormatError(where + ": shape dimension too large");
      if (dim > 1 && strided > kMaxNumel / dim) throw FormatError(where + ": shape " + sh->dump() + " overflows");
      strided *= std::max<uint64_t>(dim, 1);
      numel *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint64_t item = c10::elementSize(e.dtype);
    if (numel > kMaxNumel / item) throw FormatError(where + ": shape " + sh->dump() + " overflows");
    e.begin = as_u64((*off)[0], where + " data_offsets[0]");
    e.end = as_u64((*off)[1], where + " data_offsets[1]");
    if (e.end < e.begin) throw FormatError(where + ": data_offsets end " + std::to_string(e.end) + " < begin " + std::to_string(e.begin));
    if (e.end > data_size)
      throw FormatError(where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                        "] run past the end of the data (" + std::to_string(data_size) +
                        " bytes); the file is truncated");
    if (e.end - e.begin != numel * item)
      throw FormatError(where + ": " + e.dtype_name + " " + shape_str(e.shape) + " needs " +
                        std::to_string(numel * item) + " bytes but data_offsets span " +
                        std::to_string(e.end - e.begin));
    entries_.push_back(std::move(e));
  }
  // No two tensors may share bytes.
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& e : entries_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  const SafetensorsEntry* reach = nullptr;  // the non-empty tensor ending furthest so far
  for (const auto* e : sorted) {
    if (e->end == e->begin) continue;
    if (reach != nullptr && e->begin < reach->end)
      throw FormatError(file + ": tensors '" + reach->name + "' and '" + e->name + "' have overlapping data_offsets");
    if (reach == nullptr || e->end > reach->end) reach = e;
  }
  // Keep the file's data order (it is what writers produce and what users see).
  std::sort(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.name < b.name;
  });
  for (size_t i = 0; i < entries_.size(); ++i) index_[entries_[i].name] = i;
}

const SafetensorsEntry& SafetensorsReader::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw FormatError(label() + ": no tensor named '" + name + "'");
  return entries_[it->second];
}

at::Tensor SafetensorsReader::load(const std::string& name) const {
  const auto& e = entry(name);
  const char* src = bytes_->data() + data_start_ + e.begin;
  if (e.dtype == c10::kBool) {  // a C++ bool must hold 0 or 1; any other byte is undefined behaviour to read
    const char* bad = std::find_if(src, src + (e.end - e.begin), [](char c) { return static_cast<unsigned char>(c) > 1; });
    if (bad != src + (e.end - e.begin))
      throw FormatError(label() + ": tensor '" + name + "': BOOL byte " + std::to_string(bad - src) + " is " +
                        std::to_string(static_cast<unsigned char>(*bad)) + ", not 0 or 1");
  }
  at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
  if (e.end > e.begin) std::memcpy(t.data_ptr(), src, e.end - e.begin);
  return t;
}

std::vector<std::pair<std::string, at::Tensor>> SafetensorsReader::load_all() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& e : entries_) out.emplace_back(e.name, load(e.name));
  return out;
}

namespace {

struct Prepared {
  std::string header;  // 8-byte length + padded JSON
  std::vector<at::Tensor> cpu;  // contiguous CPU tensors in data order
};

Prepared prepare(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  Prepared p;
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = m;
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) throw ConfigError("safetensors: tensor '" + name + "' is undefined");
    if (h.contains(name)) throw ConfigError("safetensors: duplicate tensor name '" + name + "'");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    h[name] = {{"dtype", safetensors_dtype_name(c.scalar_type())},
               {"shape", c.sizes().vec()},
               {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    p.cpu.push_back(std::move(c));
  }
  std::string json = h.dump();
  while (json.size() % 8 != 0) json.push_back(' ');
  p.header.resize(8);
  write_u64_le(p.header.data(), json.size());
  p.header += json;
  return p;
}

}  // namespace

std::string safetensors_bytes(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata);
  std::string out = std::move(p.header);
  for (const auto& c : p.cpu) out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata);
  AtomicFile f(path);
  f.write(p.header);
  for (const auto& c : p.cpu) f.write(c.data_ptr(), c.numel() * c.element_size());
  f.commit();
}

}  // namespace bipeft::io
