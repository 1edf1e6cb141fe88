#pragma once
// A loaded SentencePiece model, reached through the bipeft_spm shim library (see
// src/spm_shim/spm_shim.cpp for why SentencePiece is loaded with dlopen and not linked).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bipeft::text {

class SentencePieceModel {
 public:
  /// Loads `path`; throws FormatError if it is not a SentencePiece model, IoError if the shim library
  /// cannot be found.
  static std::shared_ptr<SentencePieceModel> load(const std::string& path);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  int piece_size() const;
  std::vector<int> encode(std::string_view text) const;
  std::string id_to_piece(int id) const;
  /// Text of the pieces of `ids` (SentencePiece's Decode of the piece strings).
  std::string decode(const std::vector<int>& ids) const;

  struct Api;  // function pointers into the shim

 private:
  SentencePieceModel() = default;
  const Api* api_ = nullptr;
  void* handle_ = nullptr;
  std::shared_ptr<Api> api_owner_;
};

}  // namespace bipeft::text
