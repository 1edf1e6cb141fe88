#include "bipeft/io/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/byte_buffer.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/json_util.h"
#include "bipeft/io/pickle_reader.h"
#include "bipeft/io/safetensors.h"
#include "bipeft/io/zip_directory.h"

namespace bipeft::io {

namespace {

class SafetensorsSource final : public TensorSource {
 public:
  explicit SafetensorsSource(const std::string& path) : reader_(SafetensorsReader::open(path)) {}
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& e : reader_.entries()) out.push_back(e.name);
    std::sort(out.begin(), out.end());
    return out;
  }
  bool contains(const std::string& name) const override { return reader_.contains(name); }
  std::vector<int64_t> shape(const std::string& name) const override { return reader_.entry(name).shape; }
  c10::ScalarType dtype(const std::string& name) const override { return reader_.entry(name).dtype; }
  at::Tensor load(const std::string& name) const override { return reader_.load(name); }
  std::string file_of(const std::string&) const override { return reader_.label(); }

 private:
  SafetensorsReader reader_;
};

/// Checks a strided view fits inside a storage of `storage_numel` elements and has no more elements
/// than the storage (a view with zero strides could otherwise make the contiguous copy enormous).
void check_view(const PickledTensor& t, const std::string& where) {
  int64_t last = t.offset;
  bool empty = false;
  int64_t strided = 1;  // product of the sizes, zero sizes counted as 1 (LibTorch's stride computation)
  for (size_t d = 0; d < t.size.size(); ++d) {
    if (t.size[d] == 0) empty = true;
    if (t.size[d] > 1 && strided > INT64_MAX / t.size[d]) throw FormatError(where + ": tensor size overflows");
    strided *= std::max<int64_t>(t.size[d], 1);
    if (t.size[d] > 0 && t.stride[d] > 0) {
      if (t.size[d] - 1 > (INT64_MAX - last) / t.stride[d]) throw FormatError(where + ": tensor geometry overflows");
      last += (t.size[d] - 1) * t.stride[d];
    }
  }
  if (empty) return;
  if (last >= t.storage_numel)
    throw FormatError(where + ": tensor view runs past its storage (" + std::to_string(last) + " >= " +
                      std::to_string(t.storage_numel) + " elements)");
  if (strided > t.storage_numel)
    throw FormatError(where + ": tensor of " + std::to_string(strided) + " elements is larger than its storage (" +
                      std::to_string(t.storage_numel) + " elements); expanded views are not supported");
}

at::Tensor materialize(const PickledTensor& t, const char* bytes, size_t nbytes, const std::string& where) {
  const size_t item = c10::elementSize(t.dtype);
  if (t.storage_numel < 0 || static_cast<uint64_t>(t.storage_numel) > nbytes / item)
    throw FormatError(where + ": storage '" + t.storage_key + "' holds " + std::to_string(nbytes) +
                      " bytes, fewer than its declared " + std::to_string(t.storage_numel) + " elements");
  check_view(t, where);
  if (t.dtype == c10::kBool) {  // a C++ bool must hold 0 or 1; any other byte is undefined behaviour to read
    const size_t n = static_cast<size_t>(t.storage_numel);
    if (std::any_of(bytes, bytes + n, [](char c) { return static_cast<unsigned char>(c) > 1; }))
      throw FormatError(where + ": bool storage '" + t.storage_key + "' holds a byte other than 0 or 1");
  }
  at::Tensor storage = at::empty({t.storage_numel}, at::TensorOptions().dtype(t.dtype));
  if (t.storage_numel > 0) std::memcpy(storage.data_ptr(), bytes, static_cast<size_t>(t.storage_numel) * item);
  return storage.as_strided(t.size, t.stride, t.offset).clone(at::MemoryFormat::Contiguous);
}

class PickleSourceBase : public TensorSource {
 public:
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [k, v] : entries_) out.push_back(k);
    return out;
  }
  bool contains(const std::string& name) const override { return entries_.count(name) != 0; }
  std::vector<int64_t> shape(const std::string& name) const override { return get(name).size; }
  c10::ScalarType dtype(const std::string& name) const override { return get(name).dtype; }
  std::string file_of(const std::string&) const override { return path_; }

 protected:
  const PickledTensor& get(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) throw FormatError(path_ + ": no tensor named '" + name + "'");
    return it->second;
  }
  std::string path_;
  std::map<std::string, PickledTensor> entries_;
};

/// LibTorch's zip reader on top of mapped (or in-memory) bytes.
class ByteBufferAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit ByteBufferAdapter(std::shared_ptr<const ByteBuffer> bytes) : bytes_(std::move(bytes)) {}
  size_t size() const override { return bytes_->size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char*) const override {
    if (pos >= bytes_->size()) return 0;
    n = std::min<uint64_t>(n, bytes_->size() - pos);
    std::memcpy(buf, bytes_->data() + pos, n);
    return n;
  }

 private:
  std::shared_ptr<const ByteBuffer> bytes_;
};

class ZipBinSource final : public PickleSourceBase {
 public:
  explicit ZipBinSource(const std::shared_ptr<const ByteBuffer>& bytes) {
    path_ = bytes->label();
    // LibTorch allocates each record's declared size before reading it: check every size first.
    read_zip_directory(*bytes);
    try {
      reader_ = std::make_unique<caffe2::serialize::PyTorchStreamReader>(std::make_shared<ByteBufferAdapter>(bytes));
    } catch (const c10::Error& e) {
      throw FormatError(path_ + ": not a readable torch zip archive (" + first_line(e.what()) + ")");
    } catch (const std::logic_error& e) {  // std::stoull of a bad "version" record (out_of_range)
      throw FormatError(path_ + ": not a readable torch zip archive (bad version record: " + e.what() + ")");
    }
    std::string pkl = record("data.pkl");
    size_t pos = 0;
    entries_ = state_dict_entries(read_pickle(pkl.data(), pkl.size(), pos, path_ + ":data.pkl"), path_);
  }
  at::Tensor load(const std::string& name) const override {
    const auto& t = get(name);
    std::string data = record("data/" + t.storage_key);
    return materialize(t, data.data(), data.size(), path_ + ": tensor '" + name + "'");
  }

 private:
  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
  std::string record(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      if (!reader_->hasRecord(name)) throw FormatError(path_ + ": archive has no record '" + name + "'");
      auto [ptr, size] = reader_->getRecord(name);
      return std::string(static_cast<const char*>(ptr.get()), size);
    } catch (const c10::Error& e) {
      throw FormatError(path_ + ": cannot read record '" + name + "' (" + first_line(e.what()) + ")");
    }
  }
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader_;
  mutable std::mutex mu_;
};

// torch.save before PyTorch 1.6: pickled magic number, protocol version, sys info, the object, the
// list of storage keys, then each storage as an int64 element count followed by its raw bytes.
class LegacyBinSource final : public PickleSourceBase {
 public:
  LegacyBinSource(const std::string& path, std::shared_ptr<const ByteBuffer> bytes) : bytes_(std::move(bytes)) {
    path_ = path;
    const char* d = bytes_->data();
    const size_t n = bytes_->size();
    size_t pos = 0;
    skip_magic(pos);
    read_pickle(d, n, pos, path);  // protocol version
    read_pickle(d, n, pos, path);  // sys info
    entries_ = state_dict_entries(read_pickle(d, n, pos, path), path);
    auto keys = read_pickle(d, n, pos, path);
    if (keys->kind != PyObj::Kind::List) throw FormatError(path + ": legacy storage key list is missing");
    std::map<std::string, c10::ScalarType> key_dtype;
    for (const auto& [name, t] : entries_) key_dtype[t.storage_key] = t.dtype;
    for (const auto& k : keys->items) {
      if (k->kind != PyObj::Kind::Str) throw FormatError(path + ": legacy storage key is not a string");
      if (n - pos < 8) throw FormatError(path + ": truncated before storage '" + k->s + "'");
      int64_t numel = 0;
      std::memcpy(&numel, d + pos, 8);
      pos += 8;
      auto dt = key_dtype.count(k->s) ? key_dtype[k->s] : c10::kByte;
      const uint64_t item = c10::elementSize(dt);
      if (numel < 0 || static_cast<uint64_t>(numel) > (n - pos) / item)
        throw FormatError(path + ": storage '" + k->s + "' runs past the end of the file");
      offsets_[k->s] = {pos, static_cast<size_t>(numel) * item};
      pos += static_cast<size_t>(numel) * item;
    }
  }
  at::Tensor load(const std::string& name) const override {
    const auto& t = get(name);
    auto it = offsets_.find(t.storage_key);
    if (it == offsets_.end()) throw FormatError(path_ + ": storage '" + t.storage_key + "' is missing");
    return materialize(t, bytes_->data() + it->second.first, it->second.second, path_ + ": tensor '" + name + "'");
  }

 private:
  void skip_magic(size_t& pos) {
    // \x80\x02 \x8a\x0a <10 bytes of 0x1950a86a20f9469cfc6c little-endian> .
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                          0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    if (bytes_->size() < sizeof magic || std::memcmp(bytes_->data(), magic, sizeof magic) != 0)
      throw FormatError(path_ + ": neither a torch zip archive nor a legacy torch.save file");
    pos = sizeof magic;
  }
  std::shared_ptr<const ByteBuffer> bytes_;
  std::map<std::string, std::pair<size_t, size_t>> offsets_;
};

class ShardedSource final : public TensorSource {
 public:
  explicit ShardedSource(const std::string& index_path) {
    auto j = read_json_file(index_path);
    auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object())
      throw FormatError(index_path + ": missing object 'weight_map' (tensor name -> shard file)");
    const auto dir = std::filesystem::path(index_path).parent_path();
    std::map<std::string, std::shared_ptr<TensorSource>> shards;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) throw FormatError(index_path + ": weight_map['" + it.key() + "'] must be a file name");
      const std::string file = it.value().get<std::string>();
      if (file.find("..") != std::string::npos || (!file.empty() && file[0] == '/'))
        throw FormatError(index_path + ": shard name '" + file + "' must be a plain file name");
      auto& shard = shards[file];
      if (!shard) {
        const std::string p = (dir / file).string();
        if (!is_file(p)) throw IoError(index_path + ": shard '" + file + "' is missing (" + p + ")");
        shard = ends_with(file, ".safetensors") ? std::shared_ptr<TensorSource>(open_safetensors_source(p))
                                                : std::shared_ptr<TensorSource>(open_torch_bin_source(p));
      }
      if (!shard->contains(it.key()))
        throw FormatError(index_path + ": weight_map says '" + it.key() + "' is in " + file + " but it is not");
      map_[it.key()] = shard;
    }
    if (map_.empty()) throw FormatError(index_path + ": weight_map is empty");
  }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [k, v] : map_) out.push_back(k);
    return out;
  }
  bool contains(const std::string& name) const override { return map_.count(name) != 0; }
  std::vector<int64_t> shape(const std::string& name) const override { return at(name).shape(name); }
  c10::ScalarType dtype(const std::string& name) const override { return at(name).dtype(name); }
  at::Tensor load(const std::string& name) const override { return at(name).load(name); }
  std::string file_of(const std::string& name) const override { return at(name).file_of(name); }

 private:
  const TensorSource& at(const std::string& name) const {
    auto it = map_.find(name);
    if (it == map_.end()) throw FormatError("sharded checkpoint: no tensor named '" + name + "'");
    return *it->second;
  }
  std::map<std::string, std::shared_ptr<TensorSource>> map_;
};

}  // namespace

std::unique_ptr<TensorSource> open_safetensors_source(const std::string& path) {
  return std::make_unique<SafetensorsSource>(path);
}

std::unique_ptr<TensorSource> open_torch_bin_source(const std::string& path) {
  return open_torch_bin_source(map_file(path));
}

std::unique_ptr<TensorSource> open_torch_bin_source(std::shared_ptr<const ByteBuffer> bytes) {
  if (bytes->size() >= 4 && std::memcmp(bytes->data(), "PK\x03\x04", 4) == 0)
    return std::make_unique<ZipBinSource>(bytes);
  return std::make_unique<LegacyBinSource>(bytes->label(), std::move(bytes));
}

std::unique_ptr<TensorSource> open_sharded_source(const std::string& index_path) {
  return std::make_unique<ShardedSource>(index_path);
}

std::unique_ptr<TensorSource> open_checkpoint(const std::string& dir) {
  if (!is_dir(dir)) throw IoError(dir + ": model folder does not exist");
  const auto p = [&](const char* f) { return (std::filesystem::path(dir) / f).string(); };
  if (is_file(p("model.safetensors"))) return open_safetensors_source(p("model.safetensors"));
  if (is_file(p("model.safetensors.index.json"))) return open_sharded_source(p("model.safetensors.index.json"));
  if (is_file(p("pytorch_model.bin"))) return open_torch_bin_source(p("pytorch_model.bin"));
  if (is_file(p("pytorch_model.bin.index.json"))) return open_sharded_source(p("pytorch_model.bin.index.json"));
  throw IoError(dir + ": no weights found; expected model.safetensors, model.safetensors.index.json, "
                      "pytorch_model.bin or pytorch_model.bin.index.json");
}

}  // namespace bipeft::io
