#pragma once
// The q8_0 KV cache as device code: GGUF's Q8_0 blocks (32 elements: f16 scale d, 32 int8 levels q,
// value = q * d), written by a warp per block with the reference quantizer's arithmetic (d = amax /
// 127 and round(x / d) in IEEE f32, so the bytes equal tensor/quant_legacy.cpp's), and read either
// one element at a time or VEC consecutive elements of one block as registers.
#include <cuda_fp16.h>

#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/tensor.h"

namespace llmr::cuda_detail {

// dst[positions[r]] (positions null: dst[r]) = src[r] quantized to q8_0, src f32/f16/bf16 rows of
// whole blocks, all in device memory; rows whose position is outside dst are skipped. store_rows.cu.
void quantize_rows_q8(const Tensor& src, const Tensor& dst, const int32_t* positions, cudaStream_t stream,
                      const char* op);

// Tag type: a q8_0 cache row (the attention kernels are templated on the cache's element type).
struct Q8 {};

constexpr int kQ8Block = 32;       // elements per block
constexpr int kQ8BlockBytes = 34;  // f16 scale + 32 levels

// Lane `lane` of a full warp holds element `lane` of a block: writes the block's 34 bytes at `block`.
__device__ __forceinline__ void quantize_q8_block(float x, int lane, char* block) {
  float amax = fabsf(x);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  const float d = amax / 127.f;
  const float id = d != 0.f ? 1.f / d : 0.f;
  const float r = roundf(x * id);  // half away from zero, as the host's std::round
  const int q = r >= 127.f ? 127 : r <= -127.f ? -127 : (r == r ? int(r) : 0);
  block[2 + lane] = char(int8_t(q));
  if (lane == 0) *reinterpret_cast<uint16_t*>(block) = __half_as_ushort(__float2half_rn(d));
}

// Element `col` of the q8_0 row at `row`.
__device__ __forceinline__ float q8_element(const char* row, int64_t col) {
  const char* block = row + (col / kQ8Block) * kQ8BlockBytes;
  const float d = __half2float(__ushort_as_half(*reinterpret_cast<const uint16_t*>(block)));
  return d * float(int8_t(block[2 + col % kQ8Block]));
}

// VEC (4 or 8) consecutive elements of one block, as loaded: the scale and the packed levels.
template <int VEC>
struct Q8Regs {
  static_assert(VEC == 4 || VEC == 8);
  float d;
  uint32_t q[VEC / 4];

  // Elements [col, col + VEC) of the row at `row`; col % VEC == 0, so they lie in one block. The
  // levels sit 2 bytes past a 34-byte block start: read as 16-bit halves.
  static __device__ __forceinline__ Q8Regs load(const char* row, int64_t col) {
    const char* block = row + (col / kQ8Block) * kQ8BlockBytes;
    const auto* qs = reinterpret_cast<const uint16_t*>(block + 2 + col % kQ8Block);
    Q8Regs r;
    r.d = __half2float(__ushort_as_half(*reinterpret_cast<const uint16_t*>(block)));
#pragma unroll
    for (int k = 0; k < VEC / 4; ++k) r.q[k] = uint32_t(qs[2 * k]) | (uint32_t(qs[2 * k + 1]) << 16);
    return r;
  }
  static __device__ __forceinline__ Q8Regs zero() {
    Q8Regs r;
    r.d = 0.f;
#pragma unroll
    for (int k = 0; k < VEC / 4; ++k) r.q[k] = 0;
    return r;
  }
  __device__ __forceinline__ float at(int i) const {
    return d * float(int8_t(uint8_t(q[i / 4] >> (8 * (i % 4)))));
  }
};

}  // namespace llmr::cuda_detail
