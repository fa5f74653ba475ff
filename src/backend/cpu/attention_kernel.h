#pragma once
// Attention of one query head over a KV cache, over a vector type V: keys in tiles, online
// softmax (running max and sum rescale the accumulator), so memory stays O(head_dim) for any length.
#include <algorithm>
#include <cmath>

#include "backend/cpu/simd_kernels.h"

namespace llmr::cpu {
namespace {

constexpr int kAttentionTile = 64;

template <class V, DType KT>
float dot_row(const float* q, const char* k, int n) {
  typename V::R a0 = V::zero(), a1 = V::zero();
  int i = 0;
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    a0 = V::fmadd(V::template load<DType::F32>(q, i), V::template load<KT>(k, i), a0);
    a1 = V::fmadd(V::template load<DType::F32>(q, i + V::W), V::template load<KT>(k, i + V::W), a1);
  }
  for (; i + V::W <= n; i += V::W) a0 = V::fmadd(V::template load<DType::F32>(q, i), V::template load<KT>(k, i), a0);
  float s = V::hsum(V::add(a0, a1));
  for (; i < n; ++i) s += q[i] * V::template load_one<KT>(k, i);
  return s;
}

// acc = acc * keep + p * v
template <class V, DType VT>
void scale_add_row(float* acc, float keep, float p, const char* v, int n) {
  const auto vk = V::set1(keep), vp = V::set1(p);
  int i = 0;
  for (; i + V::W <= n; i += V::W)
    V::template store<DType::F32>(acc, i, V::fmadd(vp, V::template load<VT>(v, i), V::mul(vk, V::template load<DType::F32>(acc, i))));
  for (; i < n; ++i) acc[i] = acc[i] * keep + p * V::template load_one<VT>(v, i);
}

// s[j] = exp(s[j] - max) for j < n; returns their sum.
template <class V>
float exp_shifted(float* s, int n, float max) {
  const auto vmax = V::set1(max);
  auto total = V::zero();
  int j = 0;
  for (; j + V::W <= n; j += V::W) {
    const auto e = V::exp(V::sub(V::template load<DType::F32>(s, j), vmax));
    V::template store<DType::F32>(s, j, e);
    total = V::add(total, e);
  }
  float sum = V::hsum(total);
  for (; j < n; ++j) sum += (s[j] = V::exp_one(s[j] - max));
  return sum;
}

template <class V, DType KT, DType VT>
void attention_head(const float* q, const char* k, int64_t k_stride, const char* v, int64_t v_stride,
                    int64_t n_keys, int head_dim, float scale, float* out, float* acc) {
  alignas(64) float s[kAttentionTile];
  float running_max = -INFINITY, running_sum = 0;
  std::fill(acc, acc + head_dim, 0.f);
  for (int64_t j0 = 0; j0 < n_keys; j0 += kAttentionTile) {
    const int nt = int(std::min<int64_t>(kAttentionTile, n_keys - j0));
    float tile_max = -INFINITY;
    for (int j = 0; j < nt; ++j) {
      s[j] = dot_row<V, KT>(q, k + (j0 + j) * k_stride, head_dim) * scale;
      tile_max = std::max(tile_max, s[j]);
    }
    const float new_max = std::max(running_max, tile_max);
    // First tile: running_max is -inf and the (empty) accumulator is dropped.
    const float keep = running_max == -INFINITY ? 0.f : V::exp_one(running_max - new_max);
    running_sum = running_sum * keep + exp_shifted<V>(s, nt, new_max);
    running_max = new_max;
    scale_add_row<V, VT>(acc, keep, s[0], v + j0 * v_stride, head_dim);
    for (int j = 1; j < nt; ++j) scale_add_row<V, VT>(acc, 1.f, s[j], v + (j0 + j) * v_stride, head_dim);
  }
  const float inv = 1.f / running_sum;
  for (int d = 0; d < head_dim; ++d) out[d] = acc[d] * inv;
}

template <class V>
AttentionKernels make_attention_kernels() {
  return AttentionKernels{{{&attention_head<V, DType::F32, DType::F32>, &attention_head<V, DType::F32, DType::F16>},
                           {&attention_head<V, DType::F16, DType::F32>, &attention_head<V, DType::F16, DType::F16>}}};
}

}  // namespace
}  // namespace llmr::cpu
