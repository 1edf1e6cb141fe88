#include "bipeft/data/text_corpus.h"

#include <cmath>
#include <sstream>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/file_util.h"

namespace bipeft::data {

TextCorpus read_text_corpus(const text::Tokenizer& tok, const std::vector<std::string>& files, int64_t length,
                            double heldout_fraction) {
  if (length < 8) throw ConfigError("chunk length " + std::to_string(length) + " must be at least 8 tokens");
  if (!(heldout_fraction >= 0.0 && heldout_fraction <= 0.5))
    throw ConfigError("held-out fraction " + std::to_string(heldout_fraction) + " must be in [0, 0.5]");
  if (files.empty()) throw ConfigError("no text files given");
  TextCorpus corpus;
  std::vector<int64_t> stream;
  for (const auto& f : files) {
    const std::string text = io::read_file(f);
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (trim(line).empty()) continue;
      ++corpus.lines;
      auto ids = tok.encode(line, /*add_eos=*/false);
      stream.insert(stream.end(), ids.begin(), ids.end());
    }
  }
  const int64_t every = heldout_fraction > 0 ? std::max<int64_t>(2, std::llround(1.0 / heldout_fraction)) : 0;
  int64_t index = 0;
  for (size_t start = 0; start < stream.size(); start += static_cast<size_t>(length), ++index) {
    const size_t end = std::min(stream.size(), start + static_cast<size_t>(length));
    if (end - start < 8) break;
    std::vector<int64_t> chunk(stream.begin() + static_cast<std::ptrdiff_t>(start),
                               stream.begin() + static_cast<std::ptrdiff_t>(end));
    corpus.tokens += static_cast<int64_t>(chunk.size());
    if (every > 0 && index % every == every - 1) corpus.heldout.push_back(std::move(chunk));
    else corpus.train.push_back(std::move(chunk));
  }
  if (corpus.train.size() + corpus.heldout.size() < 2 || corpus.train.empty())
    throw FormatError(join(files, ", ") + ": " + std::to_string(corpus.lines) + " non-blank lines give " +
                      std::to_string(stream.size()) + " tokens, fewer than two chunks of " + std::to_string(length) +
                      "; give more text or shorter chunks");
  return corpus;
}

}  // namespace bipeft::data
