#pragma once
// RMSNorm row kernels, written once over a vector type V (VecScalar, VecAvx2, VecAvx512).
#include <cfloat>
#include <cmath>

#include "backend/cpu/simd_kernels.h"

namespace llmr::cpu {
namespace {

// Sum of x^2. Vector levels keep 2*W float partial sums; the scalar level would run one long float
// chain (error growing with n), so it sums in double instead.
template <class V, DType T>
float sum_squares(const void* x, int64_t n) {
  if constexpr (V::W == 1) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = V::template load_one<T>(x, i);
      s += v * v;
    }
    return float(s);
  } else {
    typename V::R a0 = V::zero(), a1 = V::zero();
    int64_t i = 0;
    for (; i + 2 * V::W <= n; i += 2 * V::W) {
      const auto v0 = V::template load<T>(x, i), v1 = V::template load<T>(x, i + V::W);
      a0 = V::fmadd(v0, v0, a0);
      a1 = V::fmadd(v1, v1, a1);
    }
    for (; i + V::W <= n; i += V::W) {
      const auto v = V::template load<T>(x, i);
      a0 = V::fmadd(v, v, a0);
    }
    float s = V::hsum(V::add(a0, a1));
    for (; i < n; ++i) {
      const float v = V::template load_one<T>(x, i);
      s += v * v;
    }
    return s;
  }
}

// y = x * inv * w
template <class V, DType T>
void scale_row(const void* x, const float* w, void* y, int64_t n, float inv) {
  const auto vinv = V::set1(inv);
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W)
    V::template store<T>(y, i, V::mul(V::mul(V::template load<T>(x, i), vinv), V::template load<DType::F32>(w, i)));
  for (; i < n; ++i) V::template store_one<T>(y, i, V::template load_one<T>(x, i) * inv * w[i]);
}

// Finishes a row whose float sum of squares is ss. When that sum overflowed, or is so small that
// squares fell into subnormals while eps cannot hide it, the row is redone in double.
template <class V, DType T>
void finish_rms_norm(const void* x, float ss, const float* w, void* y, int64_t n, float eps) {
  if (ss <= FLT_MAX && (ss >= 0x1p-100f || eps >= 0x1p-60f)) {
    scale_row<V, T>(x, w, y, n, 1.0f / std::sqrt(ss / float(n) + eps));
    return;
  }
  double ssd = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = V::template load_one<T>(x, i);
    ssd += v * v;
  }
  const double inv = 1.0 / std::sqrt(ssd / double(n) + double(eps));
  for (int64_t i = 0; i < n; ++i)
    V::template store_one<T>(y, i, float(double(V::template load_one<T>(x, i)) * inv * double(w[i])));
}

template <class V, DType T>
void rms_norm_row(const void* x, const float* w, void* y, int64_t n, float eps) {
  finish_rms_norm<V, T>(x, sum_squares<V, T>(x, n), w, y, n, eps);
}

template <class V, DType T>
void rms_norm_residual_row(const void* x, const void* r, const float* w, void* sum, void* y, int64_t n, float eps) {
  int64_t i = 0;
  if constexpr (V::W > 1) {
    for (; i + V::W <= n; i += V::W)
      V::template store<T>(sum, i, V::add(V::template load<T>(x, i), V::template load<T>(r, i)));
  }
  for (; i < n; ++i) V::template store_one<T>(sum, i, V::template load_one<T>(x, i) + V::template load_one<T>(r, i));
  // The squares are of the stored sum, re-read while the row is still in L1.
  finish_rms_norm<V, T>(sum, sum_squares<V, T>(sum, n), w, y, n, eps);
}

template <class V>
RmsNormKernels make_rms_norm_kernels() {
  return RmsNormKernels{
      {&rms_norm_row<V, DType::F32>, &rms_norm_row<V, DType::F16>, &rms_norm_row<V, DType::BF16>},
      {&rms_norm_residual_row<V, DType::F32>, &rms_norm_residual_row<V, DType::F16>,
       &rms_norm_residual_row<V, DType::BF16>}};
}

}  // namespace
}  // namespace llmr::cpu
