#pragma once
// The integer GEMV's activations (XBlock, xblock.h) made in registers by the kernels that produce
// them, all bit for bit the same: d = amax / 127, q = rn(v * (127 / amax)) ties to even (as the
// CPU's quantize_activations), and the sums of q over each half.
#include <cstdint>

#include "backend/cuda/xblock.h"

namespace llmr::cuda_ops {

// One warp's 32 values (lane = value) -> one XBlock.
__device__ __forceinline__ void quantize_block(float v, int lane, XBlock& xb) {
  float amax = fabsf(v);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  const float d = amax / 127.f;
  const float id = amax > 0.f ? 127.f / amax : 0.f;
  const int q = max(-127, min(127, __float2int_rn(__fmul_rn(v, id))));
  int s = q;  // half sums: lanes 0..15 and 16..31 reduce separately
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
  xb.qs[lane] = int8_t(q);
  if (lane == 0) {
    xb.d = d;
    xb.s0 = s;
    xb.pad = 0;
  }
  if (lane == 16) xb.s1 = s;
}

// A lane group of 8 (threadIdx.x % 8 = 0..7), 4 values each in order -> one XBlock. Every lane of the
// warp takes part (shuffles); only those with `store` write.
__device__ __forceinline__ void quantize_block_8x4(const float (&v)[4], XBlock* xb, bool store) {
  const int sub = threadIdx.x & 7;
  float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
#pragma unroll
  for (int o = 4; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  const float d = amax / 127.f;
  const float id = amax > 0.f ? 127.f / amax : 0.f;
  int q[4], s = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    q[j] = max(-127, min(127, __float2int_rn(__fmul_rn(v[j], id))));
    s += q[j];
  }
  // half sums: lanes 0..3 of the group hold values 0..15, lanes 4..7 values 16..31
#pragma unroll
  for (int o = 2; o > 0; o >>= 1) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
  if (!store) return;
  reinterpret_cast<uint32_t*>(xb->qs)[sub] = uint32_t(uint8_t(q[0])) | (uint32_t(uint8_t(q[1])) << 8) |
                                             (uint32_t(uint8_t(q[2])) << 16) | (uint32_t(uint8_t(q[3])) << 24);
  if (sub == 0) {
    xb->d = d;
    xb->s0 = s;
    xb->pad = 0;
  }
  if (sub == 4) xb->s1 = s;
}

}  // namespace llmr::cuda_ops
