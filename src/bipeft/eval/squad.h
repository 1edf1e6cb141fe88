#pragma once
// SQuAD answer normalisation and per-answer scores (ReCoRD; T5 `squad` metric).
#include <string>
#include <string_view>

namespace bipeft::eval {

/// Lower-cases (ASCII), removes ASCII punctuation, removes the words a/an/the, collapses whitespace.
std::string normalize_squad(std::string_view text);

/// 1 when the normalised strings are equal, else 0.
double squad_exact(const std::string& prediction, const std::string& gold);

/// Token-level F1 of the normalised strings (0 when they share no token, including both empty).
double squad_f1(const std::string& prediction, const std::string& gold);

}  // namespace bipeft::eval
