#pragma once
// The split protocol of S3Delta/BIPEFT (ALGORITHM.md §11.1) and the 50/50 search halves (§5.1).
// Permutations come from torch::randperm with a CPU generator seeded with the run seed: the same
// call the Python code makes (torch.Generator().manual_seed(seed); torch.randperm(n, generator=g)).
#include <cstdint>
#include <vector>

#include "bipeft/data/example.h"

namespace bipeft::data {

/// Training rows that large tasks move to dev (capped at half the training rows for cut-down samples).
constexpr int64_t kLargeTaskDevRows = 2000;

/// A permutation of 0..n-1 from torch::randperm with a CPU generator seeded with `seed`.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

/// A seed for stream `stream` (e.g. an epoch) derived from `seed` with splitmix64; equal inputs give
/// equal outputs, neighbouring streams give unrelated seeds.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

/// The first `n` examples of `examples` (all of them when n <= 0 or n >= their count).
std::vector<Example> first_n(const std::vector<Example>& examples, int64_t n);

struct ProtocolSplits {
  std::vector<Example> train, dev, test;
};

/// Small tasks: train = `train` in file order; `validation` is permuted and its first ⌊n/2⌋ rows are
/// dev, the rest test. Large tasks: `train` is permuted; its first min(2000, ⌊n/2⌋) rows are dev, the
/// rest train (in permuted order); test = `validation` in file order. Rows, not examples, are permuted.
ProtocolSplits split_protocol(const std::vector<RowExamples>& train, const std::vector<RowExamples>& validation,
                              bool large, uint64_t seed);

struct SearchHalves {
  std::vector<Example> search_train, search_val;
};

/// Permutes `train` with `seed`: the first ⌊n/2⌋ examples train the PEFT weights, the next ⌊n/2⌋ the
/// architecture; with an odd count the last permuted example is dropped.
SearchHalves search_halves(const std::vector<Example>& train, uint64_t seed);

}  // namespace bipeft::data
