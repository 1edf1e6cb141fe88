#pragma once
// How evaluation turns a model into predictions: greedy generation (the paper's protocol, the default)
// or rank decoding (eval/rank_decoding.h).
#include <string>

namespace bipeft::eval {

enum class Decoding {
  Generate,  // greedy generation, decoded and stripped (ALGORITHM.md §10.5)
  Rank,      // the most likely label (classification) or the expected candidate value (regression)
};

/// "generate" / "rank" -> Decoding; OptionError(owner, "decoding", ...) otherwise.
Decoding parse_decoding(const std::string& name, const std::string& owner);
/// Decoding -> "generate" / "rank".
std::string decoding_name(Decoding decoding);

}  // namespace bipeft::eval
