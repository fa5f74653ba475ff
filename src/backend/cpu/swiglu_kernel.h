#pragma once
// SwiGLU row kernel over a vector type V: out = gate / (1 + e^-gate) * up.
#include "backend/cpu/simd_kernels.h"

namespace llmr::cpu {
namespace {

template <class V>
void swiglu_row(const float* gate, const float* up, float* out, int64_t n) {
  const auto one = V::set1(1.f), zero = V::zero();
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) {
    const auto g = V::template load<DType::F32>(gate, i);
    const auto silu = V::div(g, V::add(one, V::exp(V::sub(zero, g))));
    V::template store<DType::F32>(out, i, V::mul(silu, V::template load<DType::F32>(up, i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.f + V::exp_one(-gate[i])) * up[i];
}

template <class V>
SwigluKernels make_swiglu_kernels() {
  return SwigluKernels{&swiglu_row<V>};
}

}  // namespace
}  // namespace llmr::cpu
