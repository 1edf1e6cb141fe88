#include "bipeft/data/splits.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace bipeft::data {

namespace {

void append_rows(std::vector<Example>& out, const std::vector<RowExamples>& rows, const std::vector<int64_t>& order,
                 size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i)
    for (const auto& e : rows[static_cast<size_t>(order[i])]) out.push_back(e);
}

std::vector<int64_t> identity(size_t n) {
  std::vector<int64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<int64_t>(i);
  return v;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  if (n <= 0) return {};
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor perm = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
  const int64_t* p = perm.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + n);
}

uint64_t derive_seed(uint64_t seed, uint64_t stream) { return splitmix64(seed ^ splitmix64(stream)); }

ProtocolSplits split_protocol(const std::vector<RowExamples>& train, const std::vector<RowExamples>& validation,
                              bool large, uint64_t seed) {
  ProtocolSplits out;
  if (large) {
    const auto order = seeded_permutation(static_cast<int64_t>(train.size()), seed);
    const size_t n_dev = std::min<size_t>(static_cast<size_t>(kLargeTaskDevRows), train.size() / 2);
    append_rows(out.dev, train, order, 0, n_dev);
    append_rows(out.train, train, order, n_dev, train.size());
    append_rows(out.test, validation, identity(validation.size()), 0, validation.size());
  } else {
    append_rows(out.train, train, identity(train.size()), 0, train.size());
    const auto order = seeded_permutation(static_cast<int64_t>(validation.size()), seed);
    const size_t n_dev = validation.size() / 2;
    append_rows(out.dev, validation, order, 0, n_dev);
    append_rows(out.test, validation, order, n_dev, validation.size());
  }
  return out;
}

SearchHalves search_halves(const std::vector<Example>& train, uint64_t seed) {
  SearchHalves out;
  const auto order = seeded_permutation(static_cast<int64_t>(train.size()), seed);
  const size_t half = train.size() / 2;
  out.search_train.reserve(half);
  out.search_val.reserve(half);
  for (size_t i = 0; i < half; ++i) out.search_train.push_back(train[static_cast<size_t>(order[i])]);
  for (size_t i = half; i < 2 * half; ++i) out.search_val.push_back(train[static_cast<size_t>(order[i])]);
  return out;
}

std::vector<Example> first_n(const std::vector<Example>& examples, int64_t n) {
  if (n <= 0 || static_cast<size_t>(n) >= examples.size()) return examples;
  return {examples.begin(), examples.begin() + n};
}

}  // namespace bipeft::data
