#include "bipeft/data/span_corruption.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "bipeft/core/error.h"
#include "bipeft/core/random.h"

namespace bipeft::data {

void SpanCorruptionOptions::validate() const {
  if (!(noise_density > 0.0 && noise_density < 1.0))
    throw ConfigError("noise density " + std::to_string(noise_density) + " must be in (0, 1)");
  if (!(mean_span_length >= 1.0 && std::isfinite(mean_span_length)))
    throw ConfigError("mean span length " + std::to_string(mean_span_length) + " must be >= 1");
}

namespace {

// Splits `items` into `segments` non-empty parts of random lengths (HF _random_segmentation: shuffle
// segments-1 "starts" among the items-1 gaps).
std::vector<int64_t> random_segmentation(int64_t items, int64_t segments, std::mt19937_64& rng) {
  std::vector<char> starts(static_cast<size_t>(items - 1), 0);
  for (int64_t i = 0; i < segments - 1; ++i) starts[static_cast<size_t>(i)] = 1;
  shuffle_in_place(starts, rng);
  std::vector<int64_t> lengths;
  int64_t current = 1;
  for (char s : starts) {
    if (s) {
      lengths.push_back(current);
      current = 1;
    } else {
      ++current;
    }
  }
  lengths.push_back(current);
  return lengths;
}

}  // namespace

std::vector<bool> random_spans_noise_mask(int64_t length, const SpanCorruptionOptions& o, uint64_t seed) {
  o.validate();
  if (length < 2) throw ConfigError("span corruption needs at least 2 tokens, got " + std::to_string(length));
  // numpy's round (half to even), as HF's random_spans_noise_mask.
  int64_t noise = static_cast<int64_t>(std::nearbyint(static_cast<double>(length) * o.noise_density));
  noise = std::min(std::max<int64_t>(noise, 1), length - 1);
  const int64_t kept = length - noise;
  int64_t spans = static_cast<int64_t>(std::nearbyint(static_cast<double>(std::min(noise, kept)) / o.mean_span_length));
  spans = std::max<int64_t>(spans, 1);
  std::mt19937_64 rng(seed);
  const auto noise_lengths = random_segmentation(noise, spans, rng);
  const auto kept_lengths = random_segmentation(kept, spans, rng);
  std::vector<bool> mask;
  mask.reserve(static_cast<size_t>(length));
  for (int64_t s = 0; s < spans; ++s) {
    mask.insert(mask.end(), static_cast<size_t>(kept_lengths[static_cast<size_t>(s)]), false);
    mask.insert(mask.end(), static_cast<size_t>(noise_lengths[static_cast<size_t>(s)]), true);
  }
  return mask;
}

CorruptedExample corrupt_spans(const std::vector<int64_t>& tokens, const std::vector<bool>& mask,
                               int64_t first_sentinel_id, int64_t num_sentinels, int64_t eos_id) {
  if (tokens.size() != mask.size())
    throw ConfigError("span corruption: " + std::to_string(tokens.size()) + " tokens but a mask of " +
                      std::to_string(mask.size()));
  CorruptedExample out;
  int64_t span = -1;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!mask[i]) {
      out.input_ids.push_back(tokens[i]);
      continue;
    }
    if (i == 0 || !mask[i - 1]) {
      if (++span >= num_sentinels)
        throw ConfigError("span corruption: more than " + std::to_string(num_sentinels) +
                          " hidden spans; use shorter sequences or a longer mean span");
      const int64_t sentinel = first_sentinel_id - span;
      out.input_ids.push_back(sentinel);
      out.target_ids.push_back(sentinel);
    }
    out.target_ids.push_back(tokens[i]);
  }
  out.input_ids.push_back(eos_id);
  out.target_ids.push_back(eos_id);
  return out;
}

}  // namespace bipeft::data
