#pragma once
// Softmax row kernel over a vector type V: subtract the row max (stable), exponentiate, normalise.
#include <algorithm>
#include <cmath>

#include "backend/cpu/simd_kernels.h"

namespace llmr::cpu {
namespace {

template <class V>
void softmax_row(float* x, int64_t n) {
  if (n == 0) return;
  auto vmax = V::set1(-INFINITY);
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) vmax = V::max(vmax, V::template load<DType::F32>(x, i));
  float max = V::hmax(vmax);
  for (; i < n; ++i) max = std::max(max, x[i]);
  const auto shift = V::set1(max);
  auto vsum = V::zero();
  for (i = 0; i + V::W <= n; i += V::W) {
    const auto e = V::exp(V::sub(V::template load<DType::F32>(x, i), shift));
    V::template store<DType::F32>(x, i, e);
    vsum = V::add(vsum, e);
  }
  float sum = V::hsum(vsum);
  for (; i < n; ++i) sum += (x[i] = V::exp_one(x[i] - max));
  const float inv = 1.f / sum;
  const auto vinv = V::set1(inv);
  for (i = 0; i + V::W <= n; i += V::W) V::template store<DType::F32>(x, i, V::mul(V::template load<DType::F32>(x, i), vinv));
  for (; i < n; ++i) x[i] *= inv;
}

template <class V>
SoftmaxKernels make_softmax_kernels() {
  return SoftmaxKernels{&softmax_row<V>};
}

}  // namespace
}  // namespace llmr::cpu
