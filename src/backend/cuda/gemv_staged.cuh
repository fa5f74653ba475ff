#pragma once
// The staged matrix-vector kernel for quantized weights (T <= 8): each warp streams its rows through
// a private ring of shared-memory stages with 16-byte cp.async copies (coalesced, several chunks in
// flight per warp, L2 evict-first: weights are read once per token), and decodes whole units from
// shared memory. The activations are staged once per block (the grid is sized to stay resident):
// quantized to XBlocks (int8 mode, dp4a) or copied as f32 (float mode), or, when they are too wide,
// XBlocks read from global memory after quantize_x_kernel.
//
// Geometry: a chunk is 32 units (64 for q6_k) of one row, a multiple of 16 bytes, starting at a
// super-block boundary; a warp's work item is one chunk of R rows; items run row group by row group,
// the groups strided over all warps of the grid.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/quant_device.cuh"
#include "backend/cuda/quantize_xblock.cuh"

namespace llmr::cuda_ops::staged {

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;

// ---- chunk geometry and stage ring per weight type

template <DType W>
struct Geometry;
template <>
struct Geometry<DType::Q4_0> { static constexpr int kUnits = 32, kBytes = 32 * 18, kRows = 2, kStages = 4; };
template <>
struct Geometry<DType::Q4_1> { static constexpr int kUnits = 32, kBytes = 32 * 20, kRows = 2, kStages = 4; };
template <>
struct Geometry<DType::Q8_0> { static constexpr int kUnits = 32, kBytes = 32 * 34, kRows = 1, kStages = 4; };
template <>
struct Geometry<DType::Q4_K> { static constexpr int kUnits = 32, kBytes = 4 * 144, kRows = 2, kStages = 4; };
template <>
struct Geometry<DType::Q5_K> { static constexpr int kUnits = 32, kBytes = 4 * 176, kRows = 2, kStages = 4; };
template <>
struct Geometry<DType::Q6_K> { static constexpr int kUnits = 64, kBytes = 8 * 210, kRows = 1, kStages = 3; };
template <>
struct Geometry<DType::Q4_0C> { static constexpr int kUnits = 32, kBytes = 4 * 144, kRows = 2, kStages = 4; };
template <>
struct Geometry<DType::Q4_KC> { static constexpr int kUnits = 32, kBytes = 4 * 144, kRows = 2, kStages = 4; };

// XMODE: how the activations reach the kernel.
enum class XMode { Int8Shared, Int8Global, Float };

// Rows per warp and ring depth of one kernel: the float mode at T >= 4 takes one row per warp (two
// rows' decoded weights and four tokens' accumulators exceed the register budget) with a deeper ring,
// the same bytes in flight.
template <DType W, int TMAX, XMode XM>
struct Config {
  using G = Geometry<W>;
  static_assert(G::kBytes % 16 == 0 && G::kUnits % 32 == 0, "chunks are whole 16-byte vectors, whole warps of units");
  static constexpr bool kNarrow = XM == XMode::Float && TMAX >= 4;
  static constexpr int kRows = kNarrow ? 1 : G::kRows;
  static constexpr int kStages = kNarrow ? (G::kStages - 1) * G::kRows + 1 : G::kStages;
  static constexpr size_t kStageBytes = size_t(kWarps) * kStages * kRows * G::kBytes;
};

// ---- cp.async with an L2 evict-first policy

__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t p;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
  return p;
}

// Copies `bytes` (0..16) from global src to shared dst (both 16-byte aligned), zero-filling the rest of the 16.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int bytes, uint64_t policy) {
  const uint32_t d = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  const size_t s = __cvta_generic_to_global(src);
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;" ::"r"(d), "l"(s), "r"(bytes),
               "l"(policy)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// ---- units decoded from a chunk in shared memory (16-byte aligned), the same Regs as Unit<W>::load
// gives for the same bytes in global memory.

__device__ __forceinline__ uint32_t s32(const uint8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }
__device__ __forceinline__ uint32_t s16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }

// N little-endian words from a 2-byte aligned address: N + 1 aligned reads, funnel-shifted when the
// address is 2 mod 4 (so it may read up to 4 bytes past p + 4N: callers keep that inside the chunk).
template <int N>
__device__ __forceinline__ void words_a2(const uint8_t* p, uint32_t out[N]) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uint32_t* q = reinterpret_cast<const uint32_t*>(a & ~uintptr_t(3));
  const bool shifted = a & 2;
  uint32_t w[N + 1];
#pragma unroll
  for (int i = 0; i <= N; ++i) w[i] = q[i];
#pragma unroll
  for (int i = 0; i < N; ++i) out[i] = shifted ? __funnelshift_r(w[i], w[i + 1], 16) : w[i];
}

template <DType W>
struct SmemUnit;

// q4_0 / q8_0: unit u at 18u / 34u bytes: 2 mod 4 when u is odd. Read as the words holding bytes
// [start, start + 2 + 4N) (d, then N words of qs), as load_words does: the even units' last word
// reaches 2 bytes into unit u + 1, which exists in the chunk (32 units: the last one is odd).
template <int kUnitBytes, int N>
__device__ __forceinline__ void d_and_words(const uint8_t* chunk, int u, float& d, int q[N]) {
  const uint32_t* p = reinterpret_cast<const uint32_t*>(chunk + ((u * kUnitBytes) & ~3));
  uint32_t w[N + 1];
#pragma unroll
  for (int i = 0; i <= N; ++i) w[i] = p[i];
  const bool odd = u & 1;
  d = half_bits_to_f32(uint16_t(odd ? (w[0] >> 16) : (w[0] & 0xFFFFu)));
#pragma unroll
  for (int i = 0; i < N; ++i) q[i] = int(odd ? w[i + 1] : __funnelshift_r(w[i], w[i + 1], 16));
}

template <>
struct SmemUnit<DType::Q4_0> {
  static __device__ __forceinline__ Unit<DType::Q4_0>::Regs load(const uint8_t* chunk, int u) {
    Unit<DType::Q4_0>::Regs r;
    d_and_words<18, 4>(chunk, u, r.d, r.q);
    return r;
  }
};

template <>
struct SmemUnit<DType::Q8_0> {
  static __device__ __forceinline__ Unit<DType::Q8_0>::Regs load(const uint8_t* chunk, int u) {
    Unit<DType::Q8_0>::Regs r;
    d_and_words<34, 8>(chunk, u, r.d, r.q);
    return r;
  }
};

template <>
struct SmemUnit<DType::Q4_1> {
  static __device__ __forceinline__ Unit<DType::Q4_1>::Regs load(const uint8_t* chunk, int u) {
    const uint8_t* b = chunk + u * 20;  // 4-byte aligned
    Unit<DType::Q4_1>::Regs r;
    const uint32_t dm = s32(b);
    r.d = half_bits_to_f32(uint16_t(dm & 0xFFFF));
    r.m = half_bits_to_f32(uint16_t(dm >> 16));
#pragma unroll
    for (int i = 0; i < 4; ++i) r.q[i] = int(s32(b + 4 + 4 * i));
    return r;
  }
};

// d * scale and dmin * min of sub-block j of a q4_k / q5_k super-block at b (4-byte aligned): the
// 6-bit pairs of scale_min_k4 picked from the three packed words with shifts (no array: a run-time
// index into one would put it in local memory).
__device__ __forceinline__ void k4_scales_smem(const uint8_t* b, int j, float& dsc, float& dm) {
  const uint32_t dd = s32(b), w0 = s32(b + 4), w1 = s32(b + 8), w2 = s32(b + 12);
  const int sh = 8 * (j & 3);
  const uint32_t b0 = (w0 >> sh) & 0xFF, b1 = (w1 >> sh) & 0xFF, b2 = (w2 >> sh) & 0xFF;  // bytes j&3, 4+(j&3), 8+(j&3)
  uint32_t sc, m;
  if (j < 4) {
    sc = b0 & 63;
    m = b1 & 63;
  } else {
    sc = (b2 & 0xF) | ((b0 >> 6) << 4);
    m = (b2 >> 4) | ((b1 >> 6) << 4);
  }
  dsc = half_bits_to_f32(uint16_t(dd & 0xFFFF)) * float(sc);
  dm = half_bits_to_f32(uint16_t(dd >> 16)) * float(m);
}

template <>
struct SmemUnit<DType::Q4_K> {
  static __device__ __forceinline__ Unit<DType::Q4_K>::Regs load(const uint8_t* chunk, int u) {
    const uint8_t* b = chunk + (u >> 3) * 144;
    const int j = u & 7, shift = 4 * (j & 1);
    Unit<DType::Q4_K>::Regs r;
    k4_scales_smem(b, j, r.dsc, r.dm);
    const uint8_t* qs = b + 16 + 32 * (j >> 1);
#pragma unroll
    for (int i = 0; i < 8; ++i) r.q[i] = int((s32(qs + 4 * i) >> shift) & 0x0F0F0F0Fu);
    return r;
  }
};

// The regrouped layouts (tensor/unit_records.h): unit u % 8 of record u / 8, 16-byte aligned.
__device__ __forceinline__ const uint8_t* smem_record(const uint8_t* chunk, int u) { return chunk + (u >> 3) * 144; }
__device__ __forceinline__ uint4 smem_record_quants(const uint8_t* rec, int j) {
  return *reinterpret_cast<const uint4*>(rec + 16 + 16 * j);
}

template <>
struct SmemUnit<DType::Q4_0C> {
  static __device__ __forceinline__ Unit<DType::Q4_0C>::Regs load(const uint8_t* chunk, int u) {
    const uint8_t* rec = smem_record(chunk, u);
    const uint4 q = smem_record_quants(rec, u & 7);
    return {s16(rec + 2 * (u & 7)), {int(q.x), int(q.y), int(q.z), int(q.w)}};
  }
};

template <>
struct SmemUnit<DType::Q4_KC> {
  static __device__ __forceinline__ Unit<DType::Q4_KC>::Regs load(const uint8_t* chunk, int u) {
    const uint8_t* rec = smem_record(chunk, u);
    const uint4 q = smem_record_quants(rec, u & 7);
    return {*reinterpret_cast<const uint4*>(rec), {int(q.x), int(q.y), int(q.z), int(q.w)}, u & 7};
  }
};

template <>
struct SmemUnit<DType::Q5_K> {
  static __device__ __forceinline__ Unit<DType::Q5_K>::Regs load(const uint8_t* chunk, int u) {
    const uint8_t* b = chunk + (u >> 3) * 176;
    const int j = u & 7, shift = 4 * (j & 1);
    Unit<DType::Q5_K>::Regs r;
    k4_scales_smem(b, j, r.dsc, r.dm);
    const uint8_t* qh = b + 16;
    const uint8_t* qs = b + 48 + 32 * (j >> 1);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t lo = (s32(qs + 4 * i) >> shift) & 0x0F0F0F0Fu;
      const uint32_t hi = ((s32(qh + 4 * i) >> j) & 0x01010101u) << 4;
      r.q[i] = int(lo | hi);
    }
    return r;
  }
};

// q6_k: super-blocks of 210 bytes (2-byte aligned); the ql / qh reads of 8 words reach at most
// byte 196 of the last super-block of the chunk (see Unit<Q6_K>::load for the layout).
template <>
struct SmemUnit<DType::Q6_K> {
  static __device__ __forceinline__ Unit<DType::Q6_K>::Regs load(const uint8_t* chunk, int u) {
    const uint8_t* b = chunk + (u >> 3) * 210;
    const int kk = u & 7, h = kk >> 2, k = kk & 3;
    const int lshift = 4 * (k >> 1), hshift = 2 * k;
    uint32_t ql[8], qh[8];
    words_a2<8>(b + 64 * h + 32 * (k & 1), ql);
    words_a2<8>(b + 128 + 32 * h, qh);
    Unit<DType::Q6_K>::Regs r;
    const float d = half_bits_to_f32(uint16_t(s16(b + 208)));
    const uint32_t sc = s16(b + 192 + 8 * h + 2 * k);
    r.d0 = d * float(int8_t(sc & 0xFF));
    r.d1 = d * float(int8_t(sc >> 8));
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t lo = (ql[i] >> lshift) & 0x0F0F0F0Fu;
      const uint32_t hi = ((qh[i] >> hshift) & 0x03030303u) << 4;
      r.q[i] = int(lo | hi);
    }
    return r;
  }
};

// ---- float-mode dot products: 32 weights of one unit against 32 f32 activations in shared memory,
// unit u's 16-byte chunk c stored at chunk c ^ (u & 7) (eight lanes of consecutive units: eight
// different bank groups). The generic one decodes with to_floats (the values dequantize_row gives).

__device__ __forceinline__ float4 x_chunk(const float* xu, int c, int u) {
  return *reinterpret_cast<const float4*>(xu + ((c ^ (u & 7)) << 2));
}

// The 32 activations of unit u, unswizzled.
__device__ __forceinline__ void x_unit(const float* xu, int u, float x[32]) {
#pragma unroll
  for (int c = 0; c < 8; ++c) {
    const float4 a = x_chunk(xu, c, u);
    x[4 * c] = a.x;
    x[4 * c + 1] = a.y;
    x[4 * c + 2] = a.z;
    x[4 * c + 3] = a.w;
  }
}

template <DType W>
struct FloatDot {
  template <int R>
  static __device__ __forceinline__ void apply(const typename Unit<W>::Regs (&regs)[R], const float* xu, int u,
                                               float sx, float (&acc)[R]) {
    float wf[R][32];
#pragma unroll
    for (int r = 0; r < R; ++r) Unit<W>::to_floats(regs[r], wf[r]);
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      const float4 a = x_chunk(xu, c, u);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        acc[r] = fmaf(wf[r][4 * c], a.x, acc[r]);
        acc[r] = fmaf(wf[r][4 * c + 1], a.y, acc[r]);
        acc[r] = fmaf(wf[r][4 * c + 2], a.z, acc[r]);
        acc[r] = fmaf(wf[r][4 * c + 3], a.w, acc[r]);
      }
    }
  }
};

// q4_0 / q4_1 without integer-to-float conversions (the f32 path's bottleneck): a nibble q at bits
// [s, s + 4) of a word, or-ed into the exponent of 2^23, is the float 2^23 + q 2^s exactly (s <= 19);
// subtracting 2^23 + OFF 2^s leaves (q - OFF) 2^s exactly. Each nibble position s keeps its own
// partial sum, scaled by 2^-s (exact) at the end: sum_k (q_k - OFF) x_k with every product exact
// before its f32 add, as in the generic path.
// Word i of qs holds bytes 4i..4i+3: low nibbles are elements 4i..4i+3, high ones 16+4i..16+4i+3.
// Byte b's low nibble sits at bit 8b, its high one at 8b + 4. Bytes 0, 1 are read in place
// (s = 0, 4, 8, 12), bytes 2, 3 from the word shifted right by 12 (s = 4, 8, 12, 16).
template <int OFF>
__device__ __forceinline__ float nibbles_dot(const int (&q)[4], const float (&x)[32]) {
  float p[5] = {0.f, 0.f, 0.f, 0.f, 0.f};  // partial sums by s / 4
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t words[2] = {uint32_t(q[i]), uint32_t(q[i]) >> 12};
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      const uint32_t w = words[b >> 1];
      const int s_lo = 8 * (b & 1) + ((b >> 1) ? 4 : 0);  // bit of byte b's low nibble in w
      const int s_hi = s_lo + 4;
      const float lo = __uint_as_float(0x4B000000u | (w & (0xFu << s_lo))) - (8388608.f + float(OFF) * float(1 << s_lo));
      const float hi = __uint_as_float(0x4B000000u | (w & (0xFu << s_hi))) - (8388608.f + float(OFF) * float(1 << s_hi));
      p[s_lo / 4] = fmaf(lo, x[4 * i + b], p[s_lo / 4]);
      p[s_hi / 4] = fmaf(hi, x[16 + 4 * i + b], p[s_hi / 4]);
    }
  }
  return p[0] + p[1] * 0x1p-4f + p[2] * 0x1p-8f + p[3] * 0x1p-12f + p[4] * 0x1p-16f;
}

// q4_0: d sum (q - 8) x.
template <>
struct FloatDot<DType::Q4_0> {
  template <int R>
  static __device__ __forceinline__ void apply(const Unit<DType::Q4_0>::Regs (&regs)[R], const float* xu, int u,
                                               float sx, float (&acc)[R]) {
    float x[32];
    x_unit(xu, u, x);
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = fmaf(regs[r].d, nibbles_dot<8>(regs[r].q, x), acc[r]);
  }
};

// q4_1: value = d q + m, so the unit gives d sum q x + m sum x.
template <>
struct FloatDot<DType::Q4_1> {
  template <int R>
  static __device__ __forceinline__ void apply(const Unit<DType::Q4_1>::Regs (&regs)[R], const float* xu, int u,
                                               float sx, float (&acc)[R]) {
    float x[32];
    x_unit(xu, u, x);
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = fmaf(regs[r].d, nibbles_dot<0>(regs[r].q, x), fmaf(regs[r].m, sx, acc[r]));
  }
};

// Types whose Regs hold one element per byte (q8_0, q4_k, q5_k, q6_k: element i is byte i % 4 of
// q[i / 4]): a byte at bits [s, s + 8) or-ed into 2^23 is 2^23 + byte 2^s exactly (s = 0, 8; bytes
// 2, 3 are read from the word shifted right by 16); subtracting 2^23 + OFF 2^s leaves
// (byte - OFF) 2^s exactly. Two partial sums (s = 0 and 8) per group, the second scaled by 2^-8 at the end.
template <int OFF>
__device__ __forceinline__ void bytes_dot(uint32_t w, const float* x, float& p0, float& p8) {
  constexpr float k0 = 8388608.f + float(OFF), k8 = 8388608.f + 256.f * float(OFF);
  const uint32_t hi = w >> 16;
  p0 = fmaf(__uint_as_float(0x4B000000u | (w & 0xFFu)) - k0, x[0], p0);
  p8 = fmaf(__uint_as_float(0x4B000000u | (w & 0xFF00u)) - k8, x[1], p8);
  p0 = fmaf(__uint_as_float(0x4B000000u | (hi & 0xFFu)) - k0, x[2], p0);
  p8 = fmaf(__uint_as_float(0x4B000000u | (hi & 0xFF00u)) - k8, x[3], p8);
}

// q8_0: d sum q x; the signed bytes made unsigned (q + 128) by flipping their top bits.
template <>
struct FloatDot<DType::Q8_0> {
  template <int R>
  static __device__ __forceinline__ void apply(const Unit<DType::Q8_0>::Regs (&regs)[R], const float* xu, int u,
                                               float sx, float (&acc)[R]) {
    float x[32];
    x_unit(xu, u, x);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float p0 = 0.f, p8 = 0.f;
#pragma unroll
      for (int i = 0; i < 8; ++i) bytes_dot<128>(uint32_t(regs[r].q[i]) ^ 0x80808080u, x + 4 * i, p0, p8);
      acc[r] = fmaf(regs[r].d, p0 + p8 * 0x1p-8f, acc[r]);
    }
  }
};

// q4_k / q5_k: value = dsc q - dm, so the unit gives dsc sum q x - dm sum x (sx: the sum of the
// unit's activations, staged with them).
template <DType W>
struct FloatDotK4 {
  template <int R>
  static __device__ __forceinline__ void apply(const typename Unit<W>::Regs (&regs)[R], const float* xu, int u,
                                               float sx, float (&acc)[R]) {
    float x[32];
    x_unit(xu, u, x);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float p0 = 0.f, p8 = 0.f;
#pragma unroll
      for (int i = 0; i < 8; ++i) bytes_dot<0>(uint32_t(regs[r].q[i]), x + 4 * i, p0, p8);
      acc[r] = fmaf(regs[r].dsc, p0 + p8 * 0x1p-8f, fmaf(-regs[r].dm, sx, acc[r]));
    }
  }
};
template <>
struct FloatDot<DType::Q4_K> : FloatDotK4<DType::Q4_K> {};
template <>
struct FloatDot<DType::Q5_K> : FloatDotK4<DType::Q5_K> {};

// q6_k: bytes hold q + 32; elements 0..15 (words 0..3) take d0, 16..31 take d1.
template <>
struct FloatDot<DType::Q6_K> {
  template <int R>
  static __device__ __forceinline__ void apply(const Unit<DType::Q6_K>::Regs (&regs)[R], const float* xu, int u,
                                               float sx, float (&acc)[R]) {
    float x[32];
    x_unit(xu, u, x);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float a0 = 0.f, a8 = 0.f, b0 = 0.f, b8 = 0.f;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        bytes_dot<32>(uint32_t(regs[r].q[i]), x + 4 * i, a0, a8);
        bytes_dot<32>(uint32_t(regs[r].q[4 + i]), x + 16 + 4 * i, b0, b8);
      }
      acc[r] = fmaf(regs[r].d1, b0 + b8 * 0x1p-8f, fmaf(regs[r].d0, a0 + a8 * 0x1p-8f, acc[r]));
    }
  }
};

// ---- the kernel

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

// Stages x [T][n_in] (row stride x_stride floats) in shared memory: XBlocks [T][n_in / 32] (Int8Shared)
// or swizzled f32 (Float) followed by each unit's sum [T][n_in / 32]. Eight consecutive threads take one 32-value block, a float4 each.
template <XMode XM>
__device__ __forceinline__ void stage_x(const float* __restrict__ x, int64_t x_stride, int n_in, int T, bool x_vec4,
                                        void* xs) {
  const int per_row = n_in / 4;  // float4 groups per token; a multiple of 8
  const int total = T * per_row;
  constexpr int kBatch = 4;  // float4 loads in flight per thread
  for (int q0 = 0; q0 < total; q0 += kThreads * kBatch) {
    float4 v[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int q = q0 + b * kThreads + int(threadIdx.x);
      v[b] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (q < total) {
        const float* p = x + int64_t(q / per_row) * x_stride + 4 * (q % per_row);
        if (x_vec4) v[b] = __ldg(reinterpret_cast<const float4*>(p));
        else v[b] = make_float4(__ldg(p), __ldg(p + 1), __ldg(p + 2), __ldg(p + 3));
      }
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int q = q0 + b * kThreads + int(threadIdx.x);
      const int t = q / per_row, g = q % per_row, u = g >> 3, c = g & 7;
      if constexpr (XM == XMode::Int8Shared) {
        // the whole warp shuffles; blocks past the end (whole 8-lane groups, total % 8 == 0) are not stored
        // (c = threadIdx.x % 8: per_row and the block's threads are multiples of 8)
        const float quad[4] = {v[b].x, v[b].y, v[b].z, v[b].w};
        quantize_block_8x4(quad, static_cast<XBlock*>(xs) + t * (n_in / 32) + u, q < total);
      } else {
        // the unit's sum, pairwise (5 roundings deep): this lane's four, then the 8-lane group
        float sum = (v[b].x + v[b].y) + (v[b].z + v[b].w);
#pragma unroll
        for (int o = 1; o < 8; o <<= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
        if (q < total) {
          float* xf = static_cast<float*>(xs);
          reinterpret_cast<float4*>(xf + t * n_in + u * 32)[c ^ (u & 7)] = v[b];
          if (c == 0) xf[T * n_in + t * (n_in / 32) + u] = sum;
        }
      }
    }
  }
}

template <DType W, int TMAX, XMode XM>
__global__ void __maxnreg__(128)
gemv_staged_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t w_row_bytes, int64_t n_out, int units,
                   const float* __restrict__ x, int64_t x_stride, bool x_vec4, const XBlock* __restrict__ xq_global,
                   int T, const float* __restrict__ bias, float* __restrict__ y, int64_t y_stride) {
  using C = Config<W, TMAX, XM>;
  constexpr int R = C::kRows, S = C::kStages, CU = C::G::kUnits, CH = C::G::kBytes, UPL = CU / 32;
  extern __shared__ __align__(16) uint8_t smem[];
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) & 31;
  uint8_t* ring = smem + size_t(warp) * S * R * CH;
  void* xs = smem + C::kStageBytes;

  const int64_t n_groups = (n_out + R - 1) / R;
  const int64_t warps_total = int64_t(gridDim.x) * kWarps;
  const int nchunks = (units + CU - 1) / CU;
  const uint64_t policy = evict_first_policy();

  // issue side of the ring: (group, chunk) of the next item to copy
  int64_t ig = int64_t(blockIdx.x) * kWarps + warp;
  int ic = 0, islot = 0;
  auto issue = [&]() {
    if (ig < n_groups) {
      const int64_t off = int64_t(ic) * CH;
      const int bytes = int(min(int64_t(CH), w_row_bytes - off));
      uint8_t* dst = ring + islot * (R * CH);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const uint8_t* src = w + min(ig * R + r, n_out - 1) * w_stride + off;  // past the end: the last row again, not written
#pragma unroll 1
        for (int v = lane * 16; v < bytes; v += 32 * 16) cp_async16(dst + r * CH + v, src + v, min(16, bytes - v), policy);
      }
      if (++ic == nchunks) {
        ic = 0;
        ig += warps_total;
      }
    }
    cp_async_commit();  // empty groups too: wait_group counts stay uniform
    islot = islot + 1 == S ? 0 : islot + 1;
  };
#pragma unroll
  for (int s = 0; s < S - 1; ++s) issue();  // weights on their way while x is staged

  if constexpr (XM != XMode::Int8Global) {
    stage_x<XM>(x, x_stride, units * 32, T, x_vec4, xs);
    __syncthreads();
  }
  const XBlock* xq = XM == XMode::Int8Shared ? static_cast<const XBlock*>(xs) : xq_global;
  const float* xf = static_cast<const float*>(xs);
  const int n_in = units * 32;
  const float* xsum = xf + T * n_in;  // Float: [T][units] sums of each unit's activations

  float acc[R][TMAX];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < TMAX; ++t) acc[r][t] = 0.f;

  int64_t g = int64_t(blockIdx.x) * kWarps + warp;
  int c = 0, slot = 0;
  while (g < n_groups) {
    __syncwarp();  // every lane is done with the slot the next copy overwrites (read last iteration)
    issue();
    cp_async_wait<S - 1>();  // this lane's copies of item (g, c) have landed
    __syncwarp();            // and every other lane's
    const uint8_t* chunk = ring + slot * (R * CH);
#pragma unroll
    for (int i = 0; i < UPL; ++i) {
      const int ul = lane + 32 * i;
      const int u = c * CU + ul;
      if (u < units) {
        typename Unit<W>::Regs regs[R];
#pragma unroll
        for (int r = 0; r < R; ++r) regs[r] = SmemUnit<W>::load(chunk + r * CH, ul);
#pragma unroll
        for (int t = 0; t < TMAX; ++t) {
          if (t >= T) break;
          if constexpr (XM == XMode::Float) {
            float a[R];
#pragma unroll
            for (int r = 0; r < R; ++r) a[r] = acc[r][t];
            FloatDot<W>::template apply<R>(regs, xf + int64_t(t) * n_in + u * 32, u, xsum[t * units + u], a);
#pragma unroll
            for (int r = 0; r < R; ++r) acc[r][t] = a[r];
          } else {
#pragma unroll
            for (int r = 0; r < R; ++r) acc[r][t] += Unit<W>::dot(regs[r], xq + int64_t(t) * units + u);
          }
        }
      }
    }
    slot = slot + 1 == S ? 0 : slot + 1;
    if (++c == nchunks) {  // the row group is done: reduce, write, next group
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int64_t row = g * R + r;
#pragma unroll
        for (int t = 0; t < TMAX; ++t) {
          if (t >= T) break;
          const float s = warp_sum(acc[r][t]);
          if (lane == 0 && row < n_out) y[t * y_stride + row] = s + (bias ? bias[row] : 0.f);
          acc[r][t] = 0.f;
        }
      }
      c = 0;
      g += warps_total;
    }
  }
  cp_async_wait<0>();  // nothing real is pending (items past the last group copy nothing); drain anyway
}

}  // namespace llmr::cuda_ops::staged
