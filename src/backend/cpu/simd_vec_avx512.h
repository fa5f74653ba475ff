#pragma once
// The 16-lane AVX-512 vector the kernel templates run on; include only from *_avx512.cpp.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"

// GCC 12 flags its own _mm512_undefined_* inside the reduce intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace llmr::cpu {
namespace {

struct VecAvx512 {
  using R = __m512;
  static constexpr int W = 16;

  // Scalar conversions of this file's own (internal) so no inline copy compiled for AVX-512 leaks out.
  static float bf16_to_f32_one(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static uint16_t f32_to_bf16_one(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  template <DType T>
  static float load_one(const void* p, int64_t i) {
    if constexpr (T == DType::F32) return static_cast<const float*>(p)[i];
    if constexpr (T == DType::F16) return _cvtsh_ss(static_cast<const uint16_t*>(p)[i]);
    if constexpr (T == DType::BF16) return bf16_to_f32_one(static_cast<const uint16_t*>(p)[i]);
  }
  template <DType T>
  static void store_one(void* p, int64_t i, float v) {
    if constexpr (T == DType::F32) static_cast<float*>(p)[i] = v;
    if constexpr (T == DType::F16) static_cast<uint16_t*>(p)[i] = _cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT);
    if constexpr (T == DType::BF16) static_cast<uint16_t*>(p)[i] = f32_to_bf16_one(v);
  }

  template <DType T>
  static R load(const void* p, int64_t i) {
    if constexpr (T == DType::F32) {
      return _mm512_loadu_ps(static_cast<const float*>(p) + i);
    } else {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i));
      if constexpr (T == DType::F16) return _mm512_cvtph_ps(h);
      else return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
  }
  template <DType T>
  static void store(void* p, int64_t i, R v) {
    if constexpr (T == DType::F32) {
      _mm512_storeu_ps(static_cast<float*>(p) + i, v);
    } else {
      __m256i h;
      if constexpr (T == DType::F16) {
        h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
      } else {
        // Round to nearest even on the bits; NaNs stay quiet NaNs.
        const __m512i u = _mm512_castps_si512(v);
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
        const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                      _mm512_set1_epi32(0x7f800000));
        r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
        h = _mm512_cvtepi32_epi16(r);
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(p) + i), h);
    }
  }

  static R zero() { return _mm512_setzero_ps(); }
  static R set1(float v) { return _mm512_set1_ps(v); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R div(R a, R b) { return _mm512_div_ps(a, b); }
  static R fmadd(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R swap_pairs(R a) { return _mm512_permute_ps(a, 0xB1); }
  static float hsum(R a) { return _mm512_reduce_add_ps(a); }
  static float hmax(R a) { return _mm512_reduce_max_ps(a); }
  // e^x to ~2 ulp (Cephes' polynomial); 0 below -87.3, NaN stays NaN.
  static R exp(R x) {
    const R lo = _mm512_set1_ps(-87.33f), hi = _mm512_set1_ps(88.0f);
    const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);
    x = _mm512_min_ps(hi, _mm512_max_ps(lo, x));
    const R n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    R r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    R p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_scalef_ps(keep, p, n);
  }
  static float exp_one(float a) { return std::exp(a); }
};

}  // namespace
}  // namespace llmr::cpu
