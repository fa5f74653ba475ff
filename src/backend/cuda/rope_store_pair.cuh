#pragma once
// The q|k|v GEMVs' rope epilogue, shared by the register-activation GEMV (gemv_xreg.cu) and the plain
// one (gemv_plain.cuh).
#include <cuda_runtime.h>

#include "backend/cuda/float_types.cuh"
#include "backend/cuda/gemv_xreg.h"
#include "backend/cuda/rope_pair.cuh"

namespace llmr::cuda_ops {

// Rows row0, row0 + 1 of token t's q|k|v (XregRope): rotated where they are a pair of q or k, written
// to y, and for k and v stored at the token's cache row, as rope_store_kv does (rope_pair.cuh, the
// same rounding to the cache's type).
__device__ __forceinline__ void rope_store_pair(const XregRope& r, int64_t row0, int t, float v0, float v1,
                                                float* y_row) {
  const int32_t pos = r.positions[t];
  if (row0 < r.v_begin) {
    const int i = int(row0 % r.head_dim) / 2;
    if (i < r.half) cuda_detail::rotate_pair(v0, v1, float(pos), r.inv_freq[i]);
  }
  y_row[row0] = v0;
  y_row[row0 + 1] = v1;
  if (row0 < r.kv_begin || pos < 0 || pos >= r.cache_rows) return;
  const bool is_k = row0 < r.v_begin;
  char* row = is_k ? r.k_cache + pos * r.kc_stride : r.v_cache + pos * r.vc_stride;
  const int64_t col = row0 - (is_k ? r.kv_begin : r.v_begin);
  if (r.cache_f16) {
    uint16_t* d = reinterpret_cast<uint16_t*>(row) + col;
    d[0] = cuda_detail::F16::store(v0);
    d[1] = cuda_detail::F16::store(v1);
  } else {
    float* d = reinterpret_cast<float*>(row) + col;
    d[0] = v0;
    d[1] = v1;
  }
}

}  // namespace llmr::cuda_ops
