#pragma once
// One rope pair (x0, x1) rotated by the angle pos * inv_freq, in f32 with the accurate sincosf. Every
// CUDA rope path (rope_rows, rope_store_kv, the q|k|v GEMV's epilogue) rotates through it, so the fused
// and unfused paths give the same bits.
#include <cuda_runtime.h>

namespace llmr::cuda_detail {

__device__ __forceinline__ void rotate_pair(float& x0, float& x1, float pos, float inv_freq) {
  float s, c;
  sincosf(pos * inv_freq, &s, &c);
  const float a = x0, b = x1;
  x0 = a * c - b * s;
  x1 = a * s + b * c;
}

}  // namespace llmr::cuda_detail
