#pragma once
// The integer path's activations (host- and device-visible layout): 32 values rounded to qs * d with
// d = amax / 127, plus the sums of qs over each half (the offsets of q4_0/q4_1/q4_k/q5_k/q6_k need
// them). 48 bytes, 16-aligned.
#include <cstdint>

namespace llmr::cuda_ops {

struct alignas(16) XBlock {
  int8_t qs[32];
  float d;
  int s0, s1;  // sum of qs[0..16) and qs[16..32)
  int pad;
};
static_assert(sizeof(XBlock) == 48);

}  // namespace llmr::cuda_ops
