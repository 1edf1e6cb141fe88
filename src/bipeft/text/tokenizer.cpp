#include "bipeft/text/tokenizer.h"

#include <filesystem>

#include "bipeft/core/error.h"
#include "bipeft/io/file_util.h"
#include "bipeft/text/sentencepiece_model.h"

namespace bipeft::text {

namespace {

// Length in bytes of the UTF-8 whitespace character at s[i] (Python's str.isspace), or 0.
size_t space_len(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (c == 0xc2 && (at(1) == 0x85 || at(1) == 0xa0)) return 2;
  if (c == 0xe1 && at(1) == 0x9a && at(2) == 0x80) return 3;  // U+1680
  if (c == 0xe2 && at(1) == 0x80 && (at(2) <= 0x8a || at(2) == 0xa8 || at(2) == 0xa9 || at(2) == 0xaf))
    return at(2) >= 0x80 ? 3 : 0;  // U+2000..200A, 2028, 2029, 202F
  if (c == 0xe2 && at(1) == 0x81 && at(2) == 0x9f) return 3;  // U+205F
  if (c == 0xe3 && at(1) == 0x80 && at(2) == 0x80) return 3;  // U+3000
  return 0;
}

std::string_view lstrip(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t n = space_len(s, i);
    if (n == 0) break;
    i += n;
  }
  return s.substr(i);
}

std::string_view rstrip(std::string_view s) {
  // Walk forward remembering where the trailing run of whitespace starts.
  size_t i = 0, end = 0;
  while (i < s.size()) {
    size_t n = space_len(s, i);
    if (n == 0) {
      // advance one UTF-8 character
      const auto c = static_cast<unsigned char>(s[i]);
      n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
      i += n;
      end = std::min(i, s.size());
    } else {
      i += n;
    }
  }
  return s.substr(0, end);
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& spiece_path) {
  if (!io::is_file(spiece_path)) throw IoError(spiece_path + ": SentencePiece model not found");
  Tokenizer t;
  t.sp_ = SentencePieceModel::load(spiece_path);
  t.piece_size_ = t.sp_->piece_size();
  t.path_ = spiece_path;
  if (t.piece_size_ < 3 || t.sp_->id_to_piece(0) != "<pad>" || t.sp_->id_to_piece(1) != "</s>" ||
      t.sp_->id_to_piece(2) != "<unk>")
    throw FormatError(spiece_path + ": ids 0, 1, 2 must be <pad>, </s>, <unk> as in T5's spiece.model");
  return t;
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
  const std::string p = (std::filesystem::path(dir) / "spiece.model").string();
  if (!io::is_file(p))
    throw IoError(p + ": missing; copy the checkpoint's spiece.model (T5 SentencePiece model) into " + dir);
  return from_file(p);
}

bool Tokenizer::is_special(int64_t id) const {
  return id == pad_id() || id == eos_id() || id == unk_id() || id >= piece_size_ || id < 0;
}

std::string Tokenizer::id_to_piece(int64_t id) const {
  if (id >= piece_size_ && id < vocab_size()) return "<extra_id_" + std::to_string(vocab_size() - 1 - id) + ">";
  if (id < 0 || id >= vocab_size()) return "<unk>";
  return sp_->id_to_piece(static_cast<int>(id));
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_eos) const {
  // Split on literal special tokens (longest match), stripping whitespace next to them.
  struct Chunk {
    std::string_view text;
    int64_t special = -1;
  };
  std::vector<Chunk> chunks;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    int64_t id = -1;
    size_t len = 0;
    if (text[i] == '<') {
      for (auto [tok, tid] : {std::pair<std::string_view, int64_t>{"<pad>", 0}, {"</s>", 1}, {"<unk>", 2}}) {
        if (text.substr(i, tok.size()) == tok) {
          id = tid;
          len = tok.size();
        }
      }
      constexpr std::string_view kExtra = "<extra_id_";
      if (id < 0 && text.substr(i, kExtra.size()) == kExtra) {
        size_t j = i + kExtra.size();
        int n = 0, digits = 0;
        while (j < text.size() && digits < 3 && text[j] >= '0' && text[j] <= '9') {
          n = n * 10 + (text[j] - '0');
          ++j;
          ++digits;
        }
        if (digits > 0 && j < text.size() && text[j] == '>' && n < kNumSentinels &&
            std::to_string(n).size() == static_cast<size_t>(digits)) {
          id = sentinel_id(n);
          len = j + 1 - i;
        }
      }
    }
    if (id >= 0) {
      chunks.push_back({text.substr(start, i - start)});
      chunks.push_back({{}, id});
      i += len;
      start = i;
    } else {
      ++i;
    }
  }
  chunks.push_back({text.substr(start)});
  for (size_t k = 0; k < chunks.size(); ++k) {
    if (chunks[k].special < 0) continue;
    if (k > 0) chunks[k - 1].text = rstrip(chunks[k - 1].text);
    if (k + 1 < chunks.size()) chunks[k + 1].text = lstrip(chunks[k + 1].text);
  }
  std::vector<int64_t> ids;
  for (const auto& c : chunks) {
    if (c.special >= 0) {
      ids.push_back(c.special);
      continue;
    }
    if (c.text.empty()) continue;
    auto piece_ids = sp_->encode(c.text);
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
  }
  if (add_eos && (ids.empty() || ids.back() != eos_id())) ids.push_back(eos_id());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::vector<int> pieces;
  std::string out;
  auto flush = [&] {
    if (pieces.empty()) return;
    out += sp_->decode(pieces);
    pieces.clear();
  };
  for (int64_t id : ids) {
    if (is_special(id)) {
      if (skip_special) continue;
      flush();
      if (!out.empty()) out += " ";
      out += id_to_piece(id);
      continue;
    }
    pieces.push_back(static_cast<int>(id));
  }
  flush();
  out = std::string(rstrip(lstrip(out)));
  // transformers' clean_up_tokenization.
  replace_all(out, " .", ".");
  replace_all(out, " ?", "?");
  replace_all(out, " !", "!");
  replace_all(out, " ,", ",");
  replace_all(out, " ' ", "'");
  replace_all(out, " n't", "n't");
  replace_all(out, " 'm", "'m");
  replace_all(out, " 's", "'s");
  replace_all(out, " 've", "'ve");
  replace_all(out, " 're", "'re");
  return out;
}

}  // namespace bipeft::text
