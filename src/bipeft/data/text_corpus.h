#pragma once
// Plain-text corpora for pretraining: UTF-8 files, one passage per line, tokenized (no EOS), joined
// into one token stream and cut into fixed-length chunks; every k-th chunk is held out for a loss
// that shows whether the model generalises beyond the chunks it trains on.
#include <cstdint>
#include <string>
#include <vector>

#include "bipeft/text/tokenizer.h"

namespace bipeft::data {

struct TextCorpus {
  std::vector<std::vector<int64_t>> train, heldout;  // chunks of `length` tokens (the last may be shorter)
  int64_t lines = 0;                                 // non-blank lines read
  int64_t tokens = 0;                                // tokens in all chunks
};

/// Reads `files` (IoError naming a missing/unreadable file), skips blank lines, tokenizes and chunks.
/// `heldout_fraction` in [0, 0.5]: every round(1 / fraction)-th chunk goes to `heldout`. A final
/// chunk shorter than 8 tokens is dropped. FormatError when the files hold fewer than two chunks.
TextCorpus read_text_corpus(const text::Tokenizer& tokenizer, const std::vector<std::string>& files, int64_t length,
                            double heldout_fraction);

}  // namespace bipeft::data
