#pragma once
// Attention of the query heads sharing one KV head over a range of the cache, over a vector type V:
// keys in tiles, online softmax (running max and sum rescale the accumulator), so memory stays
// O(heads * head_dim) for any context length.
#include <algorithm>
#include <cmath>

#include "backend/cpu/simd_kernels.h"
#include "tensor/quant_blocks.h"

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

// Bytes of a head's slice of one cache row of type T.
template <DType T>
int head_row_bytes(int head_dim) {
  if constexpr (T == DType::Q8_0) return head_dim / quant::kQK * int(sizeof(quant::BlockQ8_0));
  return head_dim * (T == DType::F16 ? 2 : 4);
}

// dst[r * head_dim + d] = element d of q8_0 row r (rows `stride` bytes apart), r < rows: a tile of
// the cache made f32 once, then shared by every query head of the group.
template <class V>
void dequantize_q8_tile(const char* src, int64_t stride, int rows, int head_dim, float* dst) {
  for (int r = 0; r < rows; ++r) {
    const auto* blocks = reinterpret_cast<const quant::BlockQ8_0*>(src + r * stride);
    float* out = dst + int64_t(r) * head_dim;
    for (int b = 0; b < head_dim / quant::kQK; ++b) {
      const float d = V::template load_one<DType::F16>(&blocks[b].d, 0);
      for (int j = 0; j < quant::kQK; ++j) out[b * quant::kQK + j] = d * float(blocks[b].qs[j]);
    }
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

// The query heads [0, n_heads) that share one KV head, over keys [key_begin, key_end): each key and
// value row is fetched from memory once for the whole group. Leaves per head the unnormalised
// accumulator (acc + i * head_dim), its running max and its sum of weights; scores is
// n_heads * kAttentionTile floats of scratch, kv_scratch 2 * kAttentionTile * head_dim (q8_0 tiles).
template <class V, DType KT, DType VT>
void attention_group(const float* q, int n_heads, const char* k, int64_t k_stride, const char* v, int64_t v_stride,
                     int64_t key_begin, int64_t key_end, int head_dim, float scale, float* acc, float* max_out,
                     float* sum_out, float* scores, float* kv_scratch) {
  const int k_row_bytes = head_row_bytes<KT>(head_dim), v_row_bytes = head_row_bytes<VT>(head_dim);
  float* k_tile = kv_scratch;  // q8_0 keys / values of the tile, dequantized
  float* v_tile = kv_scratch + int64_t(kAttentionTile) * head_dim;
  constexpr DType KR = KT == DType::Q8_0 ? DType::F32 : KT, VR = VT == DType::Q8_0 ? DType::F32 : VT;
  // Plain loops, not std::fill: an out-of-line copy of a library template compiled for AVX-512
  // here could be the one the linker keeps for baseline callers.
  for (int64_t i = 0; i < int64_t(n_heads) * head_dim; ++i) acc[i] = 0.f;
  for (int i = 0; i < n_heads; ++i) {
    max_out[i] = -INFINITY;
    sum_out[i] = 0.f;
  }
  for (int64_t j0 = key_begin; j0 < key_end; j0 += kAttentionTile) {
    const int nt = int(std::min<int64_t>(kAttentionTile, key_end - j0));
    if constexpr (KT == DType::Q8_0) dequantize_q8_tile<V>(k + j0 * k_stride, k_stride, nt, head_dim, k_tile);
    if constexpr (VT == DType::Q8_0) dequantize_q8_tile<V>(v + j0 * v_stride, v_stride, nt, head_dim, v_tile);
    for (int j = 0; j < nt; ++j) {
      // A head's rows are strided through the cache, which hardware prefetchers follow poorly:
      // fetch keys a few rows ahead, and this tile's values before accumulate_tile needs them.
      if (j0 + j + kPrefetchRows < key_end) prefetch_row(k + (j0 + j + kPrefetchRows) * k_stride, k_row_bytes);
      prefetch_row(v + (j0 + j) * v_stride, v_row_bytes);
      const char* krow = KT == DType::Q8_0 ? reinterpret_cast<const char*>(k_tile + int64_t(j) * head_dim)
                                           : k + (j0 + j) * k_stride;
      for (int i = 0; i < n_heads; ++i)
        scores[i * kAttentionTile + j] = dot_row<V, KR>(q + int64_t(i) * head_dim, krow, head_dim) * scale;
    }
    for (int i = 0; i < n_heads; ++i) {
      float* s = scores + i * kAttentionTile;
      float tile_max = -INFINITY;
      for (int j = 0; j < nt; ++j) tile_max = std::max(tile_max, s[j]);
      const float new_max = std::max(max_out[i], tile_max);
      // First tile: the running max is -inf and the (empty) accumulator is dropped.
      const float keep = max_out[i] == -INFINITY ? 0.f : V::exp_one(max_out[i] - new_max);
      sum_out[i] = sum_out[i] * keep + exp_shifted<V>(s, nt, new_max);
      max_out[i] = new_max;
      if constexpr (VT == DType::Q8_0)
        accumulate_tile<V, VR>(acc + int64_t(i) * head_dim, keep, s, reinterpret_cast<const char*>(v_tile),
                               int64_t(head_dim) * 4, nt, head_dim);
      else
        accumulate_tile<V, VR>(acc + int64_t(i) * head_dim, keep, s, v + j0 * v_stride, v_stride, nt, head_dim);
    }
  }
}

// Row kv_type_index(KT) of the table: keys of type KT, values of each type.
template <class V, DType KT>
void fill_attention_row(AttentionKernels& k) {
  auto& row = k.group[kv_type_index(KT)];
  row[kv_type_index(DType::F32)] = &attention_group<V, KT, DType::F32>;
  row[kv_type_index(DType::F16)] = &attention_group<V, KT, DType::F16>;
  row[kv_type_index(DType::Q8_0)] = &attention_group<V, KT, DType::Q8_0>;
}

template <class V>
AttentionKernels make_attention_kernels() {
  AttentionKernels k{};
  fill_attention_row<V, DType::F32>(k);
  fill_attention_row<V, DType::F16>(k);
  fill_attention_row<V, DType::Q8_0>(k);
  return k;
}

}  // namespace
}  // namespace llmr::cpu
