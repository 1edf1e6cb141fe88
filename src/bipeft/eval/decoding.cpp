#include "bipeft/eval/decoding.h"

#include "bipeft/core/error.h"

namespace bipeft::eval {

Decoding parse_decoding(const std::string& name, const std::string& owner) {
  if (name == "generate") return Decoding::Generate;
  if (name == "rank") return Decoding::Rank;
  throw OptionError(owner, "decoding", "must be generate or rank, not '" + name + "'");
}

std::string decoding_name(Decoding decoding) { return decoding == Decoding::Rank ? "rank" : "generate"; }

}  // namespace bipeft::eval
