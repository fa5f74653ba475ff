#pragma once
// What the plain-weight GEMV (gemv_plain.cuh) takes for a norm handoff (norm_handoff.h).
#include <cstdint>

namespace llmr::cuda_ops {

// A norm handoff's producer side (accumulate, n_out a multiple of plain::kWarps, T <= 2):
// out[t][row] = updated y * g[row]; sum[t] += the squares of the updated rows (double atomics: no
// partials for each consumer warp to read back). Its block 0 zeroes clear[t], the sums the next
// producer will add into (norm_handoff.h's two slots). g null: no handoff.
struct PlainNormOut {
  const float* g = nullptr;
  float* out = nullptr;  // [T][n_out]
  double* sum = nullptr;    // [T]
  double* clear = nullptr;  // [T]
};

// Consumer side: the activations are x * g; the epilogue scales its sums by 1/sqrt(sum[t] / n + eps)
// (before bias and rope). sum null: none.
struct PlainNormScale {
  const double* sum = nullptr;  // [T]
  int n = 0;
  float eps = 0.f;
};

}  // namespace llmr::cuda_ops
