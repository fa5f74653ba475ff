#pragma once
// The three float storage types of the non-matmul kernels as device code: load/store as f32 with the
// same rounding as tensor/half.h (round to nearest even), and aligned vectors of them.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "tensor/dtype.h"

namespace llmr::cuda_detail {

struct F32 {
  using Storage = float;
  static __device__ __forceinline__ float load(float v) { return v; }
  static __device__ __forceinline__ float store(float v) { return v; }
};

struct F16 {
  using Storage = uint16_t;
  static __device__ __forceinline__ float load(uint16_t h) { return __half2float(__ushort_as_half(h)); }
  // cvt.rn.f16.f32: IEEE round to nearest even, subnormals and overflow to inf included.
  static __device__ __forceinline__ uint16_t store(float v) { return __half_as_ushort(__float2half_rn(v)); }
};

struct BF16 {
  using Storage = uint16_t;
  static __device__ __forceinline__ float load(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }
  // The integer rounding of tensor/half.h, so NaNs and subnormals come out bit for bit the same.
  static __device__ __forceinline__ uint16_t store(float v) {
    uint32_t u = __float_as_uint(v);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
  }
};

// VEC consecutive elements of one storage type, loaded and stored as one aligned access.
template <typename T, int VEC>
struct alignas(sizeof(typename T::Storage) * VEC) Pack {
  typename T::Storage v[VEC];
};

// Elements per 16-byte access of a storage type.
template <typename T>
constexpr int kVec16 = int(16 / sizeof(typename T::Storage));

// Calls fn(F32{}), fn(F16{}) or fn(BF16{}) for a tensor type; false for any other type.
template <typename F>
bool dispatch_float_type(DType t, F&& fn) {
  switch (t) {
    case DType::F32: fn(F32{}); return true;
    case DType::F16: fn(F16{}); return true;
    case DType::BF16: fn(BF16{}); return true;
    default: return false;
  }
}

}  // namespace llmr::cuda_detail
