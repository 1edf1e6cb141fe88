#pragma once
// T5's SentencePiece tokenizer, matching Hugging Face's slow T5Tokenizer (transformers 4.30) as
// loaded with from_pretrained: literal special tokens (<pad>, </s>, <unk>, <extra_id_N>) in the text
// become their ids with the whitespace around them stripped, EOS is appended unless already last,
// and decode skips special tokens and applies HF's clean_up_tokenization.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bipeft::text {

class SentencePieceModel;

class Tokenizer {
 public:
  /// Loads a SentencePiece model file; throws IoError (missing) or FormatError (not a model).
  static Tokenizer from_file(const std::string& spiece_path);
  /// Loads `<dir>/spiece.model`; the error says what to copy there when it is absent.
  static Tokenizer from_model_dir(const std::string& dir);

  /// Token ids of `text` (EOS appended when `add_eos` and the ids do not already end with it).
  std::vector<int64_t> encode(std::string_view text, bool add_eos = true) const;
  /// Text of `ids`; special tokens (pad, eos, unk, sentinels) are skipped when `skip_special`.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = true) const;
  /// The piece string of one id ("<extra_id_3>" for sentinels).
  std::string id_to_piece(int64_t id) const;

  int64_t pad_id() const { return 0; }
  int64_t eos_id() const { return 1; }
  int64_t unk_id() const { return 2; }
  /// SentencePiece vocabulary plus the 100 sentinel ids (32100 for T5).
  int64_t vocab_size() const { return piece_size_ + kNumSentinels; }
  /// Id of <extra_id_n> (n in 0..99): vocab_size() - 1 - n.
  int64_t sentinel_id(int n) const { return vocab_size() - 1 - n; }
  bool is_special(int64_t id) const;

  static constexpr int kNumSentinels = 100;

 private:
  std::shared_ptr<const SentencePieceModel> sp_;
  int64_t piece_size_ = 0;
  std::string path_;
};

}  // namespace bipeft::text
