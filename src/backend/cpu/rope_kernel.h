#pragma once
// RoPE row kernel over a vector type V: rotates each head's first rot dims by precomputed cos/sin.
#include "backend/cpu/simd_kernels.h"

namespace llmr::cpu {
namespace {

template <class V>
void rope_row(float* x, int n_heads, int head_dim, int rot, RopeLayout layout, const float* cos,
              const float* sin) {
  const int half = rot / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* head = x + int64_t(h) * head_dim;
    int i = 0;
    if (layout == RopeLayout::NeoX) {
      // Pairs (head[i], head[i + half]) share the angle of index i.
      float* hi = head + half;
      for (; i + V::W <= half; i += V::W) {
        const auto x0 = V::template load<DType::F32>(head, i), x1 = V::template load<DType::F32>(hi, i);
        const auto c = V::template load<DType::F32>(cos, i), s = V::template load<DType::F32>(sin, i);
        V::template store<DType::F32>(head, i, V::sub(V::mul(x0, c), V::mul(x1, s)));
        V::template store<DType::F32>(hi, i, V::fmadd(x0, s, V::mul(x1, c)));
      }
      for (; i < half; ++i) {
        const float x0 = head[i], x1 = hi[i];
        head[i] = x0 * cos[i] - x1 * sin[i];
        hi[i] = x0 * sin[i] + x1 * cos[i];
      }
    } else {
      // out = x * (c, c) + swap(x) * (-s, +s) pair by pair.
      if constexpr (V::W >= 2) {
        for (; i + V::W <= rot; i += V::W) {
          const auto v = V::template load<DType::F32>(head, i);
          V::template store<DType::F32>(head, i, V::fmadd(V::swap_pairs(v), V::template load<DType::F32>(sin, i),
                                                          V::mul(v, V::template load<DType::F32>(cos, i))));
        }
      }
      for (; i < rot; i += 2) {
        const float x0 = head[i], x1 = head[i + 1], c = cos[i], s = sin[i + 1];
        head[i] = x0 * c - x1 * s;
        head[i + 1] = x0 * s + x1 * c;
      }
    }
  }
}

template <class V>
RopeKernels make_rope_kernels() {
  return RopeKernels{&rope_row<V>};
}

}  // namespace
}  // namespace llmr::cpu
