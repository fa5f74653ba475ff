#pragma once
// Elementwise add row kernel over a vector type V.
#include "backend/cpu/simd_kernels.h"

namespace llmr::cpu {
namespace {

template <class V>
void add_row(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W)
    V::template store<DType::F32>(out, i, V::add(V::template load<DType::F32>(a, i), V::template load<DType::F32>(b, i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

template <class V>
AddKernels make_add_kernels() {
  return AddKernels{&add_row<V>};
}

}  // namespace
}  // namespace llmr::cpu
