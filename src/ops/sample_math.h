#pragma once
// The sampler's arithmetic over a whole vocabulary, written so the compiler vectorizes it: an exp
// for non-positive arguments (relative error < 1e-5; underflows to 0 below 2^-126) and a sum in eight
// interleaved partial sums. Shared with the sampling tests, whose literal definitions use them too;
// backend/cuda/sample.cu rounds each step of the exp the same way.
#include <cstdint>
#include <cstring>
#include <span>

namespace llmr::sample_math {

// exp(x) for x <= 0: 2^(x log2 e) as 2^i (exponent bits) times a degree-7 Taylor polynomial of 2^f.
inline float exp_nonpositive(float x) {
  float y = x * 1.44269504f;
  y = y < -126.f ? -126.f : y;
  int i = int(y);  // truncates toward 0: one less for negative non-integers
  i -= float(i) > y ? 1 : 0;
  const float f = y - float(i);  // [0, 1)
  const float p =
      1.f + f * (0.69314718f + f * (0.24022651f + f * (0.05550411f + f * (0.00961813f + f * (0.00133336f + f * (1.5403530e-4f + f * 1.5252734e-5f))))));
  const uint32_t bits = uint32_t(i + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return x < -87.f ? 0.f : p * scale;
}

// sum of v, accumulated in doubles over eight interleaved lanes, then the lanes in order.
inline double sum(std::span<const float> v) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const size_t n = v.size(), whole = n / 8 * 8;
  for (size_t i = 0; i < whole; i += 8)
    for (size_t j = 0; j < 8; ++j) lane[j] += v[i + j];
  for (size_t i = whole; i < n; ++i) lane[i - whole] += v[i];
  double s = 0;
  for (double l : lane) s += l;
  return s;
}

}  // namespace llmr::sample_math
