#pragma once
// Attention of the query heads sharing one KV head over a range of the cache, over a vector type V:
// keys in tiles, online softmax (running max and sum rescale the accumulator), so memory stays
// O(heads * head_dim) for any context length.
#include <algorithm>
#include <cmath>
#if defined(__AVX2__)
#include <immintrin.h>  // q8_0 widening loads in the AVX2 / AVX-512 builds of this header
#endif

#include "backend/cpu/simd_kernels.h"
#include "tensor/quant_blocks.h"

namespace llmr::cpu {
namespace {

constexpr int kAttentionTile = 64;
constexpr int kPrefetchRows = 8;

inline void prefetch_row(const char* p, int bytes) {
  for (int b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
}

// Bytes of a head's slice of one cache row of type T.
template <DType T>
int head_row_bytes(int head_dim) {
  if constexpr (T == DType::Q8_0) return head_dim / quant::kQK * int(sizeof(quant::BlockQ8_0));
  return head_dim * (T == DType::F16 ? 2 : 4);
}

// Elements [i, i + V::W) of a q8_0 row as a vector (i % V::W == 0; V::W divides the block of 32):
// the levels widened to f32 and scaled by their block's d.
template <class V>
typename V::R load_q8(const char* row, int64_t i) {
  const auto& block = reinterpret_cast<const quant::BlockQ8_0*>(row)[i / quant::kQK];
  const int8_t* qs = block.qs + i % quant::kQK;
  const float d = V::template load_one<DType::F16>(&block.d, 0);
#if defined(__AVX512F__)
  if constexpr (V::W == 16) {  // maskz forms: GCC 12 warns of the plain ones' undefined-register idiom
    const __m512i levels = _mm512_maskz_cvtepi8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    return _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, levels), _mm512_set1_ps(d));
  }
#endif
#if defined(__AVX2__)
  if constexpr (V::W == 8)
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs)))),
                         _mm256_set1_ps(d));
#endif
  if constexpr (V::W == 1) return float(qs[0]) * d;
}

// A cache row's elements as f32, for every cache type: f32/f16 through V, q8_0 through load_q8.
template <class V, DType T>
typename V::R load_kv(const char* row, int64_t i) {
  if constexpr (T == DType::Q8_0) return load_q8<V>(row, i);
  else return V::template load<T>(row, i);
}
template <class V, DType T>
float load_kv_one(const char* row, int64_t i) {
  if constexpr (T == DType::Q8_0) {
    const auto& block = reinterpret_cast<const quant::BlockQ8_0*>(row)[i / quant::kQK];
    return float(block.qs[i % quant::kQK]) * V::template load_one<DType::F16>(&block.d, 0);
  } else {
    return V::template load_one<T>(row, i);
  }
}

template <class V, DType KT>
float dot_row(const float* q, const char* k, int n) {
  typename V::R a0 = V::zero(), a1 = V::zero();
  int i = 0;
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    a0 = V::fmadd(V::template load<DType::F32>(q, i), load_kv<V, KT>(k, i), a0);
    a1 = V::fmadd(V::template load<DType::F32>(q, i + V::W), load_kv<V, KT>(k, i + V::W), a1);
  }
  for (; i + V::W <= n; i += V::W) a0 = V::fmadd(V::template load<DType::F32>(q, i), load_kv<V, KT>(k, i), a0);
  float s = V::hsum(V::add(a0, a1));
  for (; i < n; ++i) s += q[i] * load_kv_one<V, KT>(k, i);
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
      for (int b = 0; b < kBlock; ++b) a[b] = V::fmadd(pj, load_kv<V, VT>(row, d + b * V::W), a[b]);
    }
    for (int b = 0; b < kBlock; ++b) V::template store<DType::F32>(acc, d + b * V::W, a[b]);
  }
  for (; d + V::W <= n; d += V::W) {
    auto a = V::mul(vk, V::template load<DType::F32>(acc, d));
    for (int j = 0; j < nt; ++j) a = V::fmadd(V::set1(p[j]), load_kv<V, VT>(v + j * v_stride, d), a);
    V::template store<DType::F32>(acc, d, a);
  }
  for (; d < n; ++d) {
    float a = acc[d] * keep;
    for (int j = 0; j < nt; ++j) a += p[j] * load_kv_one<V, VT>(v + j * v_stride, d);
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

// The query heads [0, n_heads) that share one KV head, over keys [key_begin, key_end): each key and
// value row is fetched from memory once for the whole group. Leaves per head the unnormalised
// accumulator (acc + i * head_dim), its running max and its sum of weights; scores is
// n_heads * kAttentionTile floats of scratch.
template <class V, DType KT, DType VT>
void attention_group(const float* q, int n_heads, const char* k, int64_t k_stride, const char* v, int64_t v_stride,
                     int64_t key_begin, int64_t key_end, int head_dim, float scale, float* acc, float* max_out,
                     float* sum_out, float* scores) {
  const int k_row_bytes = head_row_bytes<KT>(head_dim), v_row_bytes = head_row_bytes<VT>(head_dim);
  // Plain loops, not std::fill: an out-of-line copy of a library template compiled for AVX-512
  // here could be the one the linker keeps for baseline callers.
  for (int64_t i = 0; i < int64_t(n_heads) * head_dim; ++i) acc[i] = 0.f;
  for (int i = 0; i < n_heads; ++i) {
    max_out[i] = -INFINITY;
    sum_out[i] = 0.f;
  }
  for (int64_t j0 = key_begin; j0 < key_end; j0 += kAttentionTile) {
    const int nt = int(std::min<int64_t>(kAttentionTile, key_end - j0));
    for (int j = 0; j < nt; ++j) {
      // A head's rows are strided through the cache, which hardware prefetchers follow poorly:
      // fetch keys a few rows ahead, and this tile's values before accumulate_tile needs them.
      if (j0 + j + kPrefetchRows < key_end) prefetch_row(k + (j0 + j + kPrefetchRows) * k_stride, k_row_bytes);
      prefetch_row(v + (j0 + j) * v_stride, v_row_bytes);
      const char* krow = k + (j0 + j) * k_stride;
      for (int i = 0; i < n_heads; ++i)
        scores[i * kAttentionTile + j] = dot_row<V, KT>(q + int64_t(i) * head_dim, krow, head_dim) * scale;
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
      accumulate_tile<V, VT>(acc + int64_t(i) * head_dim, keep, s, v + j0 * v_stride, v_stride, nt, head_dim);
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
