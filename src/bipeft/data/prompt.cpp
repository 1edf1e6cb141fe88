#include "bipeft/data/prompt.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"

namespace bipeft::data {

namespace {

std::string one_decimal(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

}  // namespace

std::string words(const std::vector<std::string>& parts) { return join(parts, " "); }

std::string stsb_paper_target(float label) {
  // HF stores the label as float32 and hands Python a float64 of that value; round_stsb_target is
  // np.round((label * 5) / 5, decimals=1), and numpy rounds as rint(x * 10) / 10.
  double x = static_cast<double>(label) * 5.0 / 5.0;
  return one_decimal(std::nearbyint(x * 10.0) / 10.0);
}

std::string stsb_t5_target(float label) {
  // t5.data.preprocessors.stsb: tf.round(label * 5) / 5 in float32, as_string(precision=1).
  float r = std::nearbyint(label * 5.0f) / 5.0f;
  return one_decimal(static_cast<double>(r));
}

std::string remove_multirc_markup(std::string_view text) {
  std::string s = replace_all(text, "<br>", " ");
  s = replace_all(s, "<b>", "");
  return replace_all(s, "</b>", "");
}

std::string record_passage(std::string_view passage) {
  static constexpr std::string_view kHighlight = "\n@highlight\n";
  // Pass 1: after closing punctuation the marker becomes a single space.
  std::string first;
  size_t pos = 0, search = 0;
  while (true) {
    size_t hit = passage.find(kHighlight, search);
    if (hit == std::string_view::npos) break;
    const char prev = hit > 0 ? passage[hit - 1] : '\0';
    if (hit > 0 && (prev == '.' || prev == '?' || prev == '!' || prev == '"' || prev == '\'')) {
      first.append(passage.substr(pos, hit - pos));
      first.push_back(' ');
      pos = search = hit + kHighlight.size();
    } else {
      search = hit + 1;
    }
  }
  first.append(passage.substr(pos));
  // Pass 2: every other marker ends a sentence.
  return replace_all(first, kHighlight, ". ");
}

std::string utf8_slice(const std::string& text, int64_t begin, int64_t end, const std::string& where) {
  std::vector<size_t> starts;  // byte offset of each code point, plus the end
  for (size_t i = 0; i < text.size(); ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  starts.push_back(text.size());
  const int64_t n = static_cast<int64_t>(starts.size()) - 1;
  if (begin < 0 || end < begin || end > n)
    throw FormatError(where + ": character range [" + std::to_string(begin) + ", " + std::to_string(end) +
                      ") is outside the passage (" + std::to_string(n) + " characters)");
  return text.substr(starts[begin], starts[end] - starts[begin]);
}

std::string wsc_mark_span(const std::string& text, const std::string& span, int64_t index, char mark) {
  // Regex of T5: ^((?:\S+\s){index})(span) -> \1<mark> \2 <mark>
  size_t pos = 0;
  for (int64_t w = 0; w < index; ++w) {
    const size_t word_begin = pos;
    while (pos < text.size() && !is_space(text[pos])) ++pos;
    if (pos == word_begin || pos >= text.size()) return text;
    ++pos;  // exactly one whitespace character
  }
  if (text.compare(pos, span.size(), span) != 0) return text;
  std::string m(1, mark);
  return text.substr(0, pos) + m + " " + span + " " + m + text.substr(pos + span.size());
}

std::string wsc_fix_span(const std::string& text, const std::string& span, int64_t index) {
  if (span.empty() || text.find(span) != std::string::npos) return span;
  if (span == "Kamenev and Zinoviev" || span == "Kamenev, Zinoviev, and Stalin") return span;
  std::vector<std::string> words;  // Python's str.split()
  std::string word;
  for (char c : text) {
    if (!is_space(c)) {
      word.push_back(c);
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(word);
  if (index < 0 || index >= static_cast<int64_t>(words.size())) return span;
  std::string fixed = span;
  const unsigned char first = static_cast<unsigned char>(words[index][0]);
  fixed[0] = std::islower(first) ? static_cast<char>(std::tolower(static_cast<unsigned char>(fixed[0])))
                                 : static_cast<char>(std::toupper(static_cast<unsigned char>(fixed[0])));
  while (!fixed.empty() && fixed.back() == '.') fixed.pop_back();
  for (auto& c : fixed)
    if (c == '\n') c = ' ';
  return fixed;
}

std::string number_text(double value) {
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

bool parse_number(std::string_view text, double& value) {
  const std::string s = trim(text);
  if (s.empty() || s.find_first_of("xX") != std::string::npos) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  value = v;
  return true;
}

}  // namespace bipeft::data
