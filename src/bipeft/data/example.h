#pragma once
// One text-to-text example: the formatted source, the target the model learns, and what scoring needs.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bipeft::data {

struct Example {
  std::string source;                // formatted input text (ALGORITHM.md §11.2 or FORMATS.md §C.1)
  std::string target;                // formatted target text
  std::vector<std::string> answers;  // acceptable targets for scoring (ReCoRD: all gold answers; else {target})
  int64_t group = -1;                // MultiRC question / ReCoRD query id for grouped metrics; -1 if none
};

/// The examples made from one row of an original file (ReCoRD: one per gold answer; else exactly one).
/// Splits permute rows, not examples, so all examples of a row land in the same split.
using RowExamples = std::vector<Example>;

/// An example whose only acceptable answer is its target.
inline Example make_example(std::string source, std::string target, int64_t group = -1) {
  Example e;
  e.source = std::move(source);
  e.target = std::move(target);
  e.answers = {e.target};
  e.group = group;
  return e;
}

}  // namespace bipeft::data
