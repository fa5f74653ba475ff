#pragma once
// Picks the next token from logits: repetition penalty, temperature, top-k, top-p, min-p, then a
// draw from a seeded generator; greedy (argmax, lowest id on ties) when temperature is 0.
// The definition, step by step (tests/runtime/sampler_test.cpp holds a literal copy):
//  1. candidates: the top_k best (higher logit, then lower id), or every token when top_k is 0;
//  2. p = exp((logit - best) / temperature) (sampler_math.h's exp), times 1 / (their sum in id order);
//  3. top-p: the shortest best-first prefix whose probabilities sum (best first) to >= top_p;
//  4. min-p: of those, best first, the run with p >= min_p * p(best) (the best always stays);
//  5. a uniform draw over the kept mass (every token: sampler_math::sum; else summed in id order),
//     walking the kept tokens in id order.
// Over a 128k vocabulary with top_k 0 and no top-p nothing is sorted: a step costs a few passes.
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
  std::vector<float> probs_;      // every token's probability, when there is no top-k
  std::vector<std::pair<int32_t, float>> kept_;  // (id, probability) of the tokens the draw walks
};

int32_t argmax(std::span<const float> logits);

}  // namespace llmr
