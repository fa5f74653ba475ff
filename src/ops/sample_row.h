#pragma once
// One row of logits to one token id: the host definition of Backend::sample (runtime/sampler.h applies
// the repetition penalty and draws u from its generator, then calls this). Step by step:
//  1. candidates: the top_k best (higher logit, then lower id), or every token when top_k is 0;
//  2. p = exp((logit - best) / temperature) (sample_math.h's exp), times 1 / (their sum in id order);
//  3. top-p: the shortest best-first prefix whose probabilities sum (best first) to >= top_p;
//  4. min-p: of those, best first, the run with p >= min_p * p(best) (the best always stays);
//  5. r = u * (the kept mass: every token: sample_math::sum; else summed in id order); the kept tokens
//     are walked in id order and the first whose running sum reaches r is the choice.
// Temperature 0 is greedy: the largest logit, lowest id on ties.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace llmr {

// One row's sampling settings and its uniform draw.
struct SampleRow {
  float temperature = 0;  // 0 = greedy
  int32_t top_k = 0;      // 0 = all
  float top_p = 1;        // 1 = off
  float min_p = 0;        // 0 = off
  double u = 0;           // uniform in [0, 1), drawn by the sequence's sampler
};

// The first index of the largest logit (0 for an empty row).
int32_t argmax(std::span<const float> logits);

// The host definition, with scratch kept between rows (a 128k vocabulary costs a few passes).
class RowSampler {
 public:
  int32_t sample(std::span<const float> logits, const SampleRow& row);

 private:
  std::vector<std::pair<float, int32_t>> candidates_;
  std::vector<float> probs_;                      // every token's probability, when there is no top-k
  std::vector<std::pair<int32_t, float>> kept_;   // (id, probability) of the tokens the draw walks
};

namespace op_checks {
// Backend::sample's arguments: logits [rows, vocab] f32 with rows == rows.size() == out.size(), a
// non-empty vocabulary, and each row's settings in range. Throws Error naming the row and field.
void sample(const Tensor& logits, std::span<const SampleRow> rows, std::span<const int32_t> out);
}  // namespace op_checks

}  // namespace llmr
