#include "bipeft/text/sentencepiece_model.h"

#include "bipeft/build_info.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "bipeft/core/error.h"
#include "bipeft/io/file_util.h"

namespace bipeft::text {

struct SentencePieceModel::Api {
  void* (*load)(const char*, char*, int) = nullptr;
  void (*free)(void*) = nullptr;
  int (*piece_size)(void*) = nullptr;
  int (*encode)(void*, const char*, int, int*, int) = nullptr;
  int (*id_to_piece)(void*, int, char*, int) = nullptr;
  int (*decode)(void*, const int*, int, char*, int) = nullptr;
};

namespace {

std::vector<std::string> shim_candidates() {
  std::vector<std::string> out;
  // An explicit path first (a program that embeds the library and ships the shim elsewhere).
  if (const char* env = std::getenv("BIPEFT_SPM_SHIM"); env != nullptr && *env != '\0') out.emplace_back(env);
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto dir = exe.parent_path();
    for (auto rel : {"libbipeft_spm.so", "../libbipeft_spm.so", "../lib/libbipeft_spm.so"})
      out.push_back((dir / rel).lexically_normal().string());
  }
  out.push_back(BIPEFT_SPM_SHIM_PATH);          // the build tree's copy
  out.push_back(BIPEFT_SPM_SHIM_INSTALL_PATH);  // where `cmake --install` puts it
  return out;
}

std::shared_ptr<SentencePieceModel::Api> open_api() {
  std::string tried;
  for (const auto& path : shim_candidates()) {
    if (!io::is_file(path)) {
      tried += " " + path;
      continue;
    }
    // Never closed: the library stays for the life of the process.
    void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (lib == nullptr) throw IoError(path + ": cannot load (" + std::string(::dlerror()) + ")");
    auto api = std::make_shared<SentencePieceModel::Api>();
    auto sym = [&](const char* name) {
      void* p = ::dlsym(lib, name);
      if (p == nullptr) throw IoError(path + ": missing symbol " + name + "; rebuild bipeft");
      return p;
    };
    api->load = reinterpret_cast<decltype(api->load)>(sym("bipeft_spm_load"));
    api->free = reinterpret_cast<decltype(api->free)>(sym("bipeft_spm_free"));
    api->piece_size = reinterpret_cast<decltype(api->piece_size)>(sym("bipeft_spm_piece_size"));
    api->encode = reinterpret_cast<decltype(api->encode)>(sym("bipeft_spm_encode"));
    api->id_to_piece = reinterpret_cast<decltype(api->id_to_piece)>(sym("bipeft_spm_id_to_piece"));
    api->decode = reinterpret_cast<decltype(api->decode)>(sym("bipeft_spm_decode"));
    return api;
  }
  throw IoError("libbipeft_spm.so (the SentencePiece shim) not found; looked at" + tried +
                "; keep it next to the bipeft binary or set BIPEFT_SPM_SHIM to its path");
}

}  // namespace

std::shared_ptr<SentencePieceModel> SentencePieceModel::load(const std::string& path) {
  auto api = open_api();
  char err[512] = {0};
  void* h = api->load(path.c_str(), err, sizeof err - 1);
  if (h == nullptr) throw FormatError(path + ": not a SentencePiece model (" + std::string(err) + ")");
  std::shared_ptr<SentencePieceModel> m(new SentencePieceModel());
  m->api_owner_ = api;
  m->api_ = api.get();
  m->handle_ = h;
  return m;
}

SentencePieceModel::~SentencePieceModel() {
  if (handle_ != nullptr) api_->free(handle_);
}

int SentencePieceModel::piece_size() const { return api_->piece_size(handle_); }

std::vector<int> SentencePieceModel::encode(std::string_view text) const {
  std::vector<int> ids(text.size() + 8);
  int n = api_->encode(handle_, text.data(), static_cast<int>(text.size()), ids.data(), static_cast<int>(ids.size()));
  if (n < 0) throw FormatError("SentencePiece could not encode the text");
  if (static_cast<size_t>(n) > ids.size()) {
    ids.resize(static_cast<size_t>(n));
    n = api_->encode(handle_, text.data(), static_cast<int>(text.size()), ids.data(), n);
  }
  ids.resize(static_cast<size_t>(n));
  return ids;
}

std::string SentencePieceModel::id_to_piece(int id) const {
  std::string out(64, '\0');
  int n = api_->id_to_piece(handle_, id, out.data(), static_cast<int>(out.size()));
  if (static_cast<size_t>(n) > out.size()) {
    out.resize(static_cast<size_t>(n));
    n = api_->id_to_piece(handle_, id, out.data(), n);
  }
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string SentencePieceModel::decode(const std::vector<int>& ids) const {
  std::string out(ids.size() * 8 + 16, '\0');
  int n = api_->decode(handle_, ids.data(), static_cast<int>(ids.size()), out.data(), static_cast<int>(out.size()));
  if (n < 0) throw FormatError("SentencePiece could not decode the ids");
  if (static_cast<size_t>(n) > out.size()) {
    out.resize(static_cast<size_t>(n));
    n = api_->decode(handle_, ids.data(), static_cast<int>(ids.size()), out.data(), n);
  }
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace bipeft::text
