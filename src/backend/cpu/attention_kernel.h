#pragma once
// Attention of one query head over a KV cache, over a vector type V: keys in tiles, online
// softmax (running max and sum rescale the accumulator), so memory stays O(head_dim) for any length.
#include <algorithm>
#include <cmath>

#include "backend/cpu/simd_kernels.h"

namespace llmr::cpu {
namespace {

constexpr int kAttentionTile = 64;
constexpr int kPrefetchRows = 8;

inline void prefetch_row(const char* p, int bytes) {
  for (int b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
}

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

// acc = acc * keep + sum_j p[j] * v_j over a tile of nt value rows. The accumulator is held in
// registers, kBlock vectors at a time, across the whole tile instead of reloaded per key.
template <class V, DType VT>
void accumulate_tile(float* acc, float keep, const float* p, const char* v, int64_t v_stride, int nt, int n) {
  constexpr int kBlock = 4;
  const auto vk = V::set1(keep);
  int d = 0;
  for (; d + kBlock * V::W <= n; d += kBlock * V::W) {
    typename V::R a[kBlock];
    for (int b = 0; b < kBlock; ++b) a[b] = V::mul(vk, V::template load<DType::F32>(acc, d + b * V::W));
    for (int j = 0; j < nt; ++j) {
      const auto pj = V::set1(p[j]);
      const char* row = v + j * v_stride;
      for (int b = 0; b < kBlock; ++b) a[b] = V::fmadd(pj, V::template load<VT>(row, d + b * V::W), a[b]);
    }
    for (int b = 0; b < kBlock; ++b) V::template store<DType::F32>(acc, d + b * V::W, a[b]);
  }
  for (; d + V::W <= n; d += V::W) {
    auto a = V::mul(vk, V::template load<DType::F32>(acc, d));
    for (int j = 0; j < nt; ++j) a = V::fmadd(V::set1(p[j]), V::template load<VT>(v + j * v_stride, d), a);
    V::template store<DType::F32>(acc, d, a);
  }
  for (; d < n; ++d) {
    float a = acc[d] * keep;
    for (int j = 0; j < nt; ++j) a += p[j] * V::template load_one<VT>(v + j * v_stride, d);
    acc[d] = a;
  }
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
  const int k_row_bytes = head_dim * (KT == DType::F16 ? 2 : 4), v_row_bytes = head_dim * (VT == DType::F16 ? 2 : 4);
  float running_max = -INFINITY, running_sum = 0;
  std::fill(acc, acc + head_dim, 0.f);
  for (int64_t j0 = 0; j0 < n_keys; j0 += kAttentionTile) {
    const int nt = int(std::min<int64_t>(kAttentionTile, n_keys - j0));
    float tile_max = -INFINITY;
    for (int j = 0; j < nt; ++j) {
      // A head's rows are strided through the cache, which hardware prefetchers follow poorly:
      // fetch keys a few rows ahead, and this tile's values before accumulate_tile needs them.
      if (j0 + j + kPrefetchRows < n_keys) prefetch_row(k + (j0 + j + kPrefetchRows) * k_stride, k_row_bytes);
      prefetch_row(v + (j0 + j) * v_stride, v_row_bytes);
      s[j] = dot_row<V, KT>(q, k + (j0 + j) * k_stride, head_dim) * scale;
      tile_max = std::max(tile_max, s[j]);
    }
    const float new_max = std::max(running_max, tile_max);
    // First tile: running_max is -inf and the (empty) accumulator is dropped.
    const float keep = running_max == -INFINITY ? 0.f : V::exp_one(running_max - new_max);
    running_sum = running_sum * keep + exp_shifted<V>(s, nt, new_max);
    running_max = new_max;
    accumulate_tile<V, VT>(acc, keep, s, v + j0 * v_stride, v_stride, nt, head_dim);
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
