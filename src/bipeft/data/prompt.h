#pragma once
// Text rewriting used by the text-to-text formats (ALGORITHM.md §11.2, FORMATS.md §C): STS-B target
// rounding, MultiRC markup removal, ReCoRD @highlight joining, WSC span marking.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bipeft::data {

/// The prompt parts joined with single spaces ("sentence1: ... sentence2: ...").
std::string words(const std::vector<std::string>& parts);

/// Paper STS-B target: str(np.round(label, 1)) of the float32 label, e.g. 3.8 -> "3.8" (0.1 grid, ties to even).
std::string stsb_paper_target(float label);
/// T5 STS-B target: round(label * 5) / 5 printed with one decimal, e.g. 3.8 -> "3.8", 3.7 -> "3.6".
std::string stsb_t5_target(float label);

/// MultiRC: "<br>" -> " ", "<b>" and "</b>" removed.
std::string remove_multirc_markup(std::string_view text);

/// ReCoRD passage: "X\n@highlight\n" -> "X " after . ? ! " ', otherwise "\n@highlight\n" -> ". ".
std::string record_passage(std::string_view passage);

/// Bytes of the code points [begin, end) of UTF-8 `text` (ReCoRD entity offsets count code points);
/// throws FormatError (naming `where`) when the range is outside the text.
std::string utf8_slice(const std::string& text, int64_t begin, int64_t end, const std::string& where);

/// WSC (T5 `_mark_span`): puts `mark` around `span` when it starts at the `index`-th whitespace-separated
/// word of `text` ("a * b * c"); returns `text` unchanged when it does not.
std::string wsc_mark_span(const std::string& text, const std::string& span, int64_t index, char mark);
/// WSC fix-up of HF `wsc.fixed` (`_fix_wst`): when `span` is not a substring of `text`, match the case
/// of the first letter to the word at `index`, strip trailing '.', and turn newlines into spaces.
std::string wsc_fix_span(const std::string& text, const std::string& span, int64_t index);

/// Shortest round-trip text of a number ("3.8", "5", "-0.25"): custom regression targets.
std::string number_text(double value);

/// Parses a whole string (surrounding whitespace allowed) as a finite number; false otherwise.
bool parse_number(std::string_view text, double& value);

}  // namespace bipeft::data
