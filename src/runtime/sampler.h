#pragma once
// Picks the next token from logits: repetition penalty, temperature, top-k, top-p, min-p, then a
// draw from a seeded generator; greedy (argmax) when temperature is 0.
#include <cstdint>
#include <random>
#include <span>
#include <vector>

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

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
  std::vector<float> penalized_;  // the logits after the repetition penalty
};

int32_t argmax(std::span<const float> logits);

}  // namespace llmr
