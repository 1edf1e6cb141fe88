// A C interface to SentencePiece, built as its own shared library and loaded by bipeft with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND).
//
// Why: Debian's libsentencepiece.so.0 exports the symbols of its bundled protobuf-lite. Linked into
// the same process as LibTorch (which loads libprotobuf.so.32), the two copies interpose each other
// and the process crashes in protobuf's static initialisers before main(). Loaded deep-bound and
// local, SentencePiece binds to its own copy and never enters the global symbol scope.
#include <sentencepiece_processor.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

int copy_out(const std::string& s, char* out, int cap) {
  if (out != nullptr && cap > 0) std::memcpy(out, s.data(), std::min<size_t>(s.size(), static_cast<size_t>(cap)));
  return static_cast<int>(s.size());
}

}  // namespace

extern "C" {

/// Loads a model; returns a handle, or null with the reason in err.
void* bipeft_spm_load(const char* path, char* err, int errcap) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto status = sp->Load(path);
  if (!status.ok()) {
    copy_out(status.ToString(), err, errcap);
    if (errcap > 0) err[std::min<int>(errcap - 1, static_cast<int>(status.ToString().size()))] = '\0';
    return nullptr;
  }
  return sp.release();
}

void bipeft_spm_free(void* h) { delete static_cast<sentencepiece::SentencePieceProcessor*>(h); }

int bipeft_spm_piece_size(void* h) { return static_cast<sentencepiece::SentencePieceProcessor*>(h)->GetPieceSize(); }

/// Encodes text into ids; returns the number of ids (writes at most cap), or -1 on failure.
int bipeft_spm_encode(void* h, const char* text, int len, int* ids, int cap) {
  std::vector<int> out;
  auto status = static_cast<sentencepiece::SentencePieceProcessor*>(h)->Encode(
      std::string(text, static_cast<size_t>(len)), &out);
  if (!status.ok()) return -1;
  if (ids != nullptr) std::memcpy(ids, out.data(), sizeof(int) * std::min<size_t>(out.size(), static_cast<size_t>(cap)));
  return static_cast<int>(out.size());
}

/// Writes the piece of `id`; returns its length in bytes.
int bipeft_spm_id_to_piece(void* h, int id, char* out, int cap) {
  return copy_out(static_cast<sentencepiece::SentencePieceProcessor*>(h)->IdToPiece(id), out, cap);
}

/// Decodes pieces (given by id); returns the text length in bytes (writes at most cap), -1 on failure.
int bipeft_spm_decode(void* h, const int* ids, int n, char* out, int cap) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  std::vector<std::string> pieces;
  pieces.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) pieces.push_back(sp->IdToPiece(ids[i]));
  std::string text;
  if (!sp->Decode(pieces, &text).ok()) return -1;
  return copy_out(text, out, cap);
}

}  // extern "C"
