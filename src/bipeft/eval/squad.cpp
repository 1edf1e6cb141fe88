#include "bipeft/eval/squad.h"

#include <cctype>
#include <map>
#include <vector>

namespace bipeft::eval {

namespace {

/// Python's \w for our purposes: ASCII letters, digits, '_' and any non-ASCII byte (letters of other scripts).
bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

std::vector<std::string> tokens(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

}  // namespace

std::string normalize_squad(std::string_view text) {
  // lower -> remove punctuation -> remove articles (\b(a|an|the)\b -> " ") -> collapse whitespace.
  std::string s;
  s.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && std::ispunct(u)) continue;
    s.push_back(static_cast<char>(u < 0x80 ? std::tolower(u) : u));
  }
  std::string no_articles;
  no_articles.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const bool boundary_before = i == 0 || !is_word_byte(static_cast<unsigned char>(s[i - 1]));
    bool removed = false;
    if (boundary_before) {
      for (const char* article : {"the", "an", "a"}) {
        const std::string_view a(article);
        const size_t end = i + a.size();
        if (s.compare(i, a.size(), a) == 0 && (end == s.size() || !is_word_byte(static_cast<unsigned char>(s[end])))) {
          no_articles.push_back(' ');
          i = end;
          removed = true;
          break;
        }
      }
    }
    if (!removed) no_articles.push_back(s[i++]);
  }
  std::string out;
  for (const auto& t : tokens(no_articles)) {
    if (!out.empty()) out.push_back(' ');
    out += t;
  }
  return out;
}

double squad_exact(const std::string& prediction, const std::string& gold) {
  return normalize_squad(prediction) == normalize_squad(gold) ? 1.0 : 0.0;
}

double squad_f1(const std::string& prediction, const std::string& gold) {
  const auto p = tokens(normalize_squad(prediction));
  const auto g = tokens(normalize_squad(gold));
  std::map<std::string, int64_t> counts;
  for (const auto& t : g) ++counts[t];
  int64_t same = 0;
  for (const auto& t : p) {
    auto it = counts.find(t);
    if (it != counts.end() && it->second > 0) {
      --it->second;
      ++same;
    }
  }
  if (same == 0) return 0.0;
  const double precision = static_cast<double>(same) / static_cast<double>(p.size());
  const double recall = static_cast<double>(same) / static_cast<double>(g.size());
  return 2 * precision * recall / (precision + recall);
}

}  // namespace bipeft::eval
