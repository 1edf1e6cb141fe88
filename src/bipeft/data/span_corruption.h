#pragma once
// T5's span-corruption objective (Raffel et al. 2020 §3.1.4; HF run_t5_mlm_flax.py
// random_spans_noise_mask): a fraction of the tokens, in spans of a given mean length, is replaced in
// the input by one sentinel per span (<extra_id_0>, <extra_id_1>, ...); the target lists each sentinel
// followed by the tokens it hides. Deterministic for a given seed on every platform (own shuffling,
// no std::shuffle).
#include <cstdint>
#include <vector>

namespace bipeft::data {

struct SpanCorruptionOptions {
  double noise_density = 0.15;    // fraction of tokens hidden, in (0, 1)
  double mean_span_length = 3.0;  // mean length of a hidden span, >= 1
  /// Throws ConfigError naming the broken constraint.
  void validate() const;
};

/// The noise mask of a `length`-token sequence (length >= 2): round(length * density) noise tokens
/// (at least 1, at most length - 1) split into round(min(noise, non-noise) / mean) spans (at least
/// 1); non-noise and noise spans alternate, starting with non-noise. `seed` fixes the partition.
std::vector<bool> random_spans_noise_mask(int64_t length, const SpanCorruptionOptions& options, uint64_t seed);

struct CorruptedExample {
  std::vector<int64_t> input_ids;   // kept tokens, one sentinel per hidden span, then EOS
  std::vector<int64_t> target_ids;  // per hidden span: its sentinel then its tokens; then EOS
};

/// Applies `mask` to `tokens` (same length). `sentinel(n)` is the id of <extra_id_n> (T5: vocab - 1 - n).
/// Throws ConfigError when the lengths differ or the spans outnumber `num_sentinels`.
CorruptedExample corrupt_spans(const std::vector<int64_t>& tokens, const std::vector<bool>& mask,
                               int64_t first_sentinel_id, int64_t num_sentinels, int64_t eos_id);

}  // namespace bipeft::data
