#pragma once
// Picks the next token from logits: repetition penalty, then ops/sample_row.h's definition (temperature,
// top-k, top-p, min-p; greedy when temperature is 0) with a uniform draw from a seeded generator.
// Either here on host logits (sample), or by a backend on its own logits (Backend::sample with
// next_row(): the same draw, so the same choice up to summation order).
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "ops/sample_row.h"

namespace llmr {

struct SamplingParams {
  float temperature = 0.8f;
  int top_k = 40;           // 0 = all
  float top_p = 0.95f;      // 1 = off
  float min_p = 0.05f;      // 0 = off
  float repeat_penalty = 1.0f;  // 1 = off; applied over the last repeat_last_n tokens
  int repeat_last_n = 64;
  uint64_t seed = 0;

  // Throws Error naming the parameter when one is out of range.
  void validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // history: tokens so far (prompt and generated), for the repetition penalty.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

  // Whether Backend::sample may draw this sampler's tokens: no repetition penalty to apply first.
  bool backend_can_sample() const { return p_.repeat_penalty == 1.0f || p_.repeat_last_n == 0; }
  // Whether one row alone samples faster on the device than downloaded and sampled here. Measured on
  // the H200 at a 128k vocabulary (cuda_sample_bench): greedy 0.04 ms vs 0.2-0.4 ms, no top-k 0.24 vs
  // 1.2-2.3 ms, but top-k 1.7 vs 0.2 ms (the kernel selects with one block); batches of rows win on
  // the device either way (64 rows: 1.8 vs 14.5 ms), so only single-sequence generation asks.
  bool device_faster_alone() const { return p_.temperature == 0.f || p_.top_k == 0; }
  // The next token's settings and uniform draw for Backend::sample. Advances the generator exactly as
  // sample() would, so that either way the same sequence of choices follows from the seed.
  SampleRow next_row();

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  RowSampler row_sampler_;
  std::vector<float> penalized_;  // the logits after the repetition penalty
};

class Backend;
// The next token from logits [1, vocab] of `backend`'s forward pass: the sampler's own on host logits;
// Backend::sample with the sampler's next_row() on logits left in the backend's memory.
int32_t sample_next(Sampler& sampler, Backend& backend, const Tensor& logits, std::span<const int32_t> history);

}  // namespace llmr
