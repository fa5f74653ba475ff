#pragma once
// What the GEMV kernels take for the epilogues of held products (norm_handoff.h). A norm handoff: the
// producer adds the squares of the rows it updates into one sum a token (double atomics, so no
// consumer warp reads back a partial sum a block), in one of a stream's two slots, and zeroes the
// other, the next producer's. The atomics' order varies from run to run; in double that moves the sum
// far below the f32 rounding of the 1/rms taken from it (x itself is written as without the handoff,
// bit for bit).
#include <cstdint>

namespace llmr::cuda_ops {

// Tokens a sum slot holds. A producer zeroes all of the next slot whatever its own T: a product of
// fewer tokens may come between two of more.
constexpr int kNormSumTokens = 2;

// The plain-weight GEMV's producer side (gemv_plain.cuh: accumulate, n_out a multiple of its 8 rows a
// block, T <= 2): out[t][row] = updated y * g[row]; sum[t] += the updated rows' squares; its block 0
// zeroes clear[t]. g null: no handoff.
struct PlainNormOut {
  const float* g = nullptr;
  float* out = nullptr;     // [T][n_out]
  double* sum = nullptr;    // [T]
  double* clear = nullptr;  // [kNormSumTokens]
  // Read y's rows before waiting for the kernel before (as gemv_xreg.h's XregNormOut): set by the launcher.
  bool y_before_wait = false;
};

// Consumer side, both GEMVs: the activations are x * g (no 1/rms); the epilogue scales its sums by
// 1/sqrt(sum[t] / n + eps), before bias and rope. sum null: no handoff.
struct NormScale {
  const double* sum = nullptr;  // [T]
  int n = 0;                    // the normalized row's length
  float eps = 0.f;
};

// A stacked gate|up product's SwiGLU epilogue (plain GEMV, T <= 2, n_out = 2 half, half a multiple of
// 4): warps 2i and 2i + 1 of block b take gate row b * 4 + i and up row half + b * 4 + i, and the even
// one writes out[t][b * 4 + i] = silu(gate) * up; y is not written. out null: none.
struct PlainSwiglu {
  float* out = nullptr;
  int64_t out_stride = 0;  // floats
};

}  // namespace llmr::cuda_ops
