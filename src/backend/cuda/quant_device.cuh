#pragma once
// Device-side decoding of the weight types, one "unit" at a time: 32 elements (one q4_0/q4_1/q8_0
// block, or one 32-element sub-block of a k-quant super-block) or one 16-byte vector of a plain
// type. Layouts as in tensor/quant_blocks.h; values as dequantize_row computes them.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/xblock.h"
#include "tensor/dtype.h"

namespace llmr::cuda_ops {

__device__ __forceinline__ float half_bits_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ uint32_t ld_u16(const uint8_t* p) { return __ldg(reinterpret_cast<const uint16_t*>(p)); }
__device__ __forceinline__ uint32_t ld_u32(const uint8_t* p) { return __ldg(reinterpret_cast<const uint32_t*>(p)); }
// Four bytes from a 2-byte aligned address.
__device__ __forceinline__ int ld_i32_a2(const uint8_t* p) { return int(ld_u16(p) | (ld_u16(p + 2) << 16)); }

// XBlocks are read with generic loads: they live in global memory (quantize_x_kernel) or in the
// fused kernel's shared memory.
__device__ __forceinline__ void load_x_ints(const XBlock* xb, int v[8]) {
  const int4 a = *reinterpret_cast<const int4*>(xb->qs);
  const int4 b = *reinterpret_cast<const int4*>(xb->qs + 16);
  v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}

// The N aligned 32-bit words from the word holding byte `start` of a 4-byte aligned row: q4_0 and
// q8_0 units (18 / 34 bytes) start at byte 0 of a word when u is even, byte 2 when odd. An even
// unit's words run 2 bytes past its end, into the next unit: callers use this only on rows of an
// even number of units (the last unit is odd), so no word leaves the row.
template <int N>
__device__ __forceinline__ void load_unit_words(const uint8_t* row, int64_t start, uint32_t w[N]) {
  const uint32_t* p = reinterpret_cast<const uint32_t*>(row + (start & ~int64_t(3)));
#pragma unroll
  for (int i = 0; i < N; ++i) w[i] = __ldg(p + i);
}

// Byte i of a packed int, as an unsigned value.
__device__ __forceinline__ int byte_of(int v, int i) { return (v >> (8 * i)) & 0xFF; }

template <DType W>
struct Unit;

// Sum of 32 nibble values in q4_0's order (word i: low nibbles elements 4i.., high ones 16 + 4i..)
// times the XBlock's values.
__device__ __forceinline__ int dot_nibbles(const int (&q)[4], const XBlock* xb) {
  int x[8];
  load_x_ints(xb, x);
  int s = 0;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    s = __dp4a(q[i] & 0x0F0F0F0F, x[i], s);
    s = __dp4a((q[i] >> 4) & 0x0F0F0F0F, x[4 + i], s);
  }
  return s;
}

// ---- integer-path types: load() reads one 32-element unit, dot() takes it against an XBlock,
// ---- to_floats() gives the 32 values (for the dequantizing GEMM path).

template <>
struct Unit<DType::Q8_0> {
  static constexpr int kElems = 32;
  struct Regs { float d; int q[8]; };
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + u * 34;
    Regs r;
    r.d = half_bits_to_f32(uint16_t(ld_u16(b)));
#pragma unroll
    for (int i = 0; i < 8; ++i) r.q[i] = ld_i32_a2(b + 2 + 4 * i);
    return r;
  }
  // The same from aligned 32-bit words (see load_unit_words): 9 loads instead of 17.
  static __device__ __forceinline__ Regs load_words(const uint8_t* row, int64_t u) {
    uint32_t w[9];
    load_unit_words<9>(row, u * 34, w);
    const bool odd = u & 1;
    Regs r;
    r.d = half_bits_to_f32(uint16_t(odd ? (w[0] >> 16) : (w[0] & 0xFFFFu)));
#pragma unroll
    for (int i = 0; i < 8; ++i) r.q[i] = int(odd ? w[i + 1] : __funnelshift_r(w[i], w[i + 1], 16));
    return r;
  }
  static __device__ __forceinline__ float dot(const Regs& r, const XBlock* xb) {
    int x[8];
    load_x_ints(xb, x);
    int s = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) s = __dp4a(r.q[i], x[i], s);
    return r.d * xb->d * float(s);
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[32]) {
#pragma unroll
    for (int i = 0; i < 32; ++i) out[i] = float(int8_t(byte_of(r.q[i / 4], i % 4))) * r.d;
  }
};

template <>
struct Unit<DType::Q4_0> {
  static constexpr int kElems = 32;
  struct Regs { float d; int q[4]; };  // q[i]: qs[4i..4i+4)
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + u * 18;
    Regs r;
    r.d = half_bits_to_f32(uint16_t(ld_u16(b)));
#pragma unroll
    for (int i = 0; i < 4; ++i) r.q[i] = ld_i32_a2(b + 2 + 4 * i);
    return r;
  }
  // The same from aligned 32-bit words (see load_unit_words): 5 loads instead of 9.
  static __device__ __forceinline__ Regs load_words(const uint8_t* row, int64_t u) {
    uint32_t w[5];
    load_unit_words<5>(row, u * 18, w);
    const bool odd = u & 1;
    Regs r;
    r.d = half_bits_to_f32(uint16_t(odd ? (w[0] >> 16) : (w[0] & 0xFFFFu)));
#pragma unroll
    for (int i = 0; i < 4; ++i) r.q[i] = int(odd ? w[i + 1] : __funnelshift_r(w[i], w[i + 1], 16));
    return r;
  }
  // low nibbles are elements 0..15, high nibbles 16..31; value = (q - 8) d
  static __device__ __forceinline__ float dot(const Regs& r, const XBlock* xb) {
    return r.d * xb->d * float(dot_nibbles(r.q, xb) - 8 * (xb->s0 + xb->s1));
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[32]) {
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int q = byte_of(r.q[j / 4], j % 4);
      out[j] = float((q & 0xF) - 8) * r.d;
      out[j + 16] = float((q >> 4) - 8) * r.d;
    }
  }
};

template <>
struct Unit<DType::Q4_1> {
  static constexpr int kElems = 32;
  struct Regs { float d, m; int q[4]; };
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + u * 20;
    Regs r;
    const uint32_t dm = ld_u32(b);
    r.d = half_bits_to_f32(uint16_t(dm & 0xFFFF));
    r.m = half_bits_to_f32(uint16_t(dm >> 16));
#pragma unroll
    for (int i = 0; i < 4; ++i) r.q[i] = int(ld_u32(b + 4 + 4 * i));
    return r;
  }
  // value = q d + m: sum = d dx sum(q xq) + m dx sum(xq)
  static __device__ __forceinline__ float dot(const Regs& r, const XBlock* xb) {
    const float dx = xb->d;
    return r.d * dx * float(dot_nibbles(r.q, xb)) + r.m * dx * float(xb->s0 + xb->s1);
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[32]) {
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int q = byte_of(r.q[j / 4], j % 4);
      out[j] = float(q & 0xF) * r.d + r.m;
      out[j + 16] = float(q >> 4) * r.d + r.m;
    }
  }
};

// Sub-block j's 6-bit scale and min from the 12 packed scale bytes (as scale_min_k4).
__device__ __forceinline__ void scale_min_k4_dev(int j, const uint8_t s[12], int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// d, dmin and sub-block j's scale and min of a q4_k / q5_k super-block (4-byte aligned).
__device__ __forceinline__ void k4_scales(const uint8_t* b, int j, float& dsc, float& dm) {
  const uint32_t dd = ld_u32(b);
  uint8_t s[12];
#pragma unroll
  for (int i = 0; i < 3; ++i) {
    const uint32_t w = ld_u32(b + 4 + 4 * i);
#pragma unroll
    for (int k = 0; k < 4; ++k) s[4 * i + k] = uint8_t(w >> (8 * k));
  }
  int sc, m;
  scale_min_k4_dev(j, s, sc, m);
  dsc = half_bits_to_f32(uint16_t(dd & 0xFFFF)) * float(sc);
  dm = half_bits_to_f32(uint16_t(dd >> 16)) * float(m);
}

// d * scale and dmin * min of sub-block j from a q4_k super-block's 16-byte header held in registers
// (d, dmin, 12 scale bytes), picked out with shifts (no local-memory array).
__device__ __forceinline__ void k4_header_scales(const uint4& h, int j, float& dsc, float& dm) {
  const int jj = 8 * (j & 3);
  const uint32_t b0 = (h.y >> jj) & 0xFF, b1 = (h.z >> jj) & 0xFF, b2 = (h.w >> jj) & 0xFF;
  const int sc = j < 4 ? int(b0 & 63) : int((b2 & 0xF) | ((b0 >> 6) << 4));
  const int m = j < 4 ? int(b1 & 63) : int((b2 >> 4) | ((b1 >> 6) << 4));
  dsc = half_bits_to_f32(uint16_t(h.x & 0xFFFF)) * float(sc);
  dm = half_bits_to_f32(uint16_t(h.x >> 16)) * float(m);
}

template <>
struct Unit<DType::Q4_K> {
  static constexpr int kElems = 32;
  struct Regs { float dsc, dm; int q[8]; };  // q: 32 values 0..15, one per byte
  // unit u = sub-block u % 8 of super-block u / 8: qs[32c + l] (c = j/2), low nibble for even j
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + (u >> 3) * 144;
    const int j = int(u & 7), shift = 4 * (j & 1);
    Regs r;
    k4_scales(b, j, r.dsc, r.dm);
    const uint8_t* qs = b + 16 + 32 * (j >> 1);
#pragma unroll
    for (int i = 0; i < 8; ++i) r.q[i] = int((ld_u32(qs + 4 * i) >> shift) & 0x0F0F0F0Fu);
    return r;
  }
  // The same from three 16-byte loads (16-byte aligned rows: super-blocks are 144 bytes): the
  // super-block's header (d, dmin, scales) and the 32 quant bytes whose nibbles the sub-block shares
  // with its neighbour; scales picked out with shifts (no local-memory array).
  static __device__ __forceinline__ Regs load16(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + (u >> 3) * 144;
    const int j = int(u & 7), shift = 4 * (j & 1);
    const uint4 h = __ldg(reinterpret_cast<const uint4*>(b));
    const uint4 q0 = __ldg(reinterpret_cast<const uint4*>(b + 16 + 32 * (j >> 1)));
    const uint4 q1 = __ldg(reinterpret_cast<const uint4*>(b + 32 + 32 * (j >> 1)));
    Regs r;
    k4_header_scales(h, j, r.dsc, r.dm);
    const uint32_t q[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) r.q[i] = int((q[i] >> shift) & 0x0F0F0F0Fu);
    return r;
  }
  // value = d sc q - dmin m
  static __device__ __forceinline__ float dot(const Regs& r, const XBlock* xb) {
    int x[8];
    load_x_ints(xb, x);
    int s = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) s = __dp4a(r.q[i], x[i], s);
    const float dx = xb->d;
    return r.dsc * dx * float(s) - r.dm * dx * float(xb->s0 + xb->s1);
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[32]) {
#pragma unroll
    for (int i = 0; i < 32; ++i) out[i] = r.dsc * float(byte_of(r.q[i / 4], i % 4)) - r.dm;
  }
};

// ---- the CUDA backend's regrouped layouts (tensor/unit_records.h): unit u is unit u % 8 of the 144-byte
// ---- record u / 8, its 16 quant bytes one 16-byte load (rows 16-byte aligned). Regs keep the loaded
// ---- bits: decoding waits for the loads where the unit is used, not where it is loaded.

// The 16-byte load of unit u's quant bytes in q4_0's nibble order.
__device__ __forceinline__ void load_record_quants(const uint8_t* rec, int j, int q[4]) {
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(rec + 16 + 16 * j));
  q[0] = int(v.x), q[1] = int(v.y), q[2] = int(v.z), q[3] = int(v.w);
}

// Q4_0C: the record's header is its 8 units' f16 scales. Values and sums as Unit<Q4_0>.
template <>
struct Unit<DType::Q4_0C> {
  static constexpr int kElems = 32;
  struct Regs { uint32_t d_bits; int q[4]; };
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    const uint8_t* rec = row + (u >> 3) * 144;
    const int j = int(u & 7);
    Regs r;
    r.d_bits = ld_u16(rec + 2 * j);
    load_record_quants(rec, j, r.q);
    return r;
  }
  static __device__ __forceinline__ float dot(const Regs& r, const XBlock* xb) {
    return half_bits_to_f32(uint16_t(r.d_bits)) * xb->d * float(dot_nibbles(r.q, xb) - 8 * (xb->s0 + xb->s1));
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[32]) {
    Unit<DType::Q4_0>::to_floats({half_bits_to_f32(uint16_t(r.d_bits)), {r.q[0], r.q[1], r.q[2], r.q[3]}}, out);
  }
};

// Q4_KC: the record's header is the q4_k super-block's. Values and sums as Unit<Q4_K>.
template <>
struct Unit<DType::Q4_KC> {
  static constexpr int kElems = 32;
  struct Regs { uint4 header; int q[4]; int j; };
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    const uint8_t* rec = row + (u >> 3) * 144;
    Regs r;
    r.j = int(u & 7);
    r.header = __ldg(reinterpret_cast<const uint4*>(rec));
    load_record_quants(rec, r.j, r.q);
    return r;
  }
  static __device__ __forceinline__ float dot(const Regs& r, const XBlock* xb) {
    float dsc, dm;
    k4_header_scales(r.header, r.j, dsc, dm);
    const float dx = xb->d;
    return dsc * dx * float(dot_nibbles(r.q, xb)) - dm * dx * float(xb->s0 + xb->s1);
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[32]) {
    float dsc, dm;
    k4_header_scales(r.header, r.j, dsc, dm);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int b = byte_of(r.q[i / 4], i % 4);
      out[i] = dsc * float(b & 0xF) - dm;
      out[16 + i] = dsc * float(b >> 4) - dm;
    }
  }
};

template <>
struct Unit<DType::Q5_K> {
  static constexpr int kElems = 32;
  struct Regs { float dsc, dm; int q[8]; };  // q: 32 values 0..31
  // as q4_k, plus bit j of qh[l] as the fifth bit
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + (u >> 3) * 176;
    const int j = int(u & 7), shift = 4 * (j & 1);
    Regs r;
    k4_scales(b, j, r.dsc, r.dm);
    const uint8_t* qh = b + 16;
    const uint8_t* qs = b + 48 + 32 * (j >> 1);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t lo = (ld_u32(qs + 4 * i) >> shift) & 0x0F0F0F0Fu;
      const uint32_t hi = ((ld_u32(qh + 4 * i) >> j) & 0x01010101u) << 4;
      r.q[i] = int(lo | hi);
    }
    return r;
  }
  static __device__ __forceinline__ float dot(const Regs& r, const XBlock* xb) {
    return Unit<DType::Q4_K>::dot(reinterpret_cast<const Unit<DType::Q4_K>::Regs&>(r), xb);
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[32]) {
#pragma unroll
    for (int i = 0; i < 32; ++i) out[i] = r.dsc * float(byte_of(r.q[i / 4], i % 4)) - r.dm;
  }
};

template <>
struct Unit<DType::Q6_K> {
  static constexpr int kElems = 32;
  struct Regs { float d0, d1; int q[8]; };  // q: 32 values 0..63 (stored q + 32); d0/d1: d * scale
  // unit u: k' = u % 8 -> half h = k'/4, quarter k = k'%4; element 128h + 32k + l takes
  // ql[64h + l + 32(k&1)] (high nibble for k >= 2), bits 2k..2k+1 of qh[32h + l], scale
  // sc[8h + 2k + l/16]
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + (u >> 3) * 210;
    const int kk = int(u & 7), h = kk >> 2, k = kk & 3;
    const uint8_t* ql = b + 64 * h + 32 * (k & 1);
    const uint8_t* qh = b + 128 + 32 * h;
    const int lshift = 4 * (k >> 1), hshift = 2 * k;
    Regs r;
    const float d = half_bits_to_f32(uint16_t(ld_u16(b + 208)));
    const uint32_t sc = ld_u16(b + 192 + 8 * h + 2 * k);
    r.d0 = d * float(int8_t(sc & 0xFF));
    r.d1 = d * float(int8_t(sc >> 8));
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t lo = (uint32_t(ld_i32_a2(ql + 4 * i)) >> lshift) & 0x0F0F0F0Fu;
      const uint32_t hi = ((uint32_t(ld_i32_a2(qh + 4 * i)) >> hshift) & 0x03030303u) << 4;
      r.q[i] = int(lo | hi);
    }
    return r;
  }
  // value = d sc (q - 32), scales per 16 elements
  static __device__ __forceinline__ float dot(const Regs& r, const XBlock* xb) {
    int x[8];
    load_x_ints(xb, x);
    int s0 = 0, s1 = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      s0 = __dp4a(r.q[i], x[i], s0);
      s1 = __dp4a(r.q[4 + i], x[4 + i], s1);
    }
    const float dx = xb->d;
    return dx * (r.d0 * float(s0 - 32 * xb->s0) + r.d1 * float(s1 - 32 * xb->s1));
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[32]) {
#pragma unroll
    for (int i = 0; i < 32; ++i) out[i] = (i < 16 ? r.d0 : r.d1) * float(byte_of(r.q[i / 4], i % 4) - 32);
  }
};

// ---- plain types: one 16-byte vector per unit, dotted against f32 activations.

template <>
struct Unit<DType::F16> {
  static constexpr int kElems = 8;
  struct Regs { uint4 v; };
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    return {__ldg(reinterpret_cast<const uint4*>(row) + u)};
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[8]) {
    const __half2* h = reinterpret_cast<const __half2*>(&r.v);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  }
};

template <>
struct Unit<DType::BF16> {
  static constexpr int kElems = 8;
  struct Regs { uint4 v; };
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    return {__ldg(reinterpret_cast<const uint4*>(row) + u)};
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[8]) {
    const uint32_t w[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(w[i] << 16);
      out[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
    }
  }
};

template <>
struct Unit<DType::F32> {
  static constexpr int kElems = 4;
  struct Regs { float4 v; };
  static __device__ __forceinline__ Regs load(const uint8_t* row, int64_t u) {
    return {__ldg(reinterpret_cast<const float4*>(row) + u)};
  }
  static __device__ __forceinline__ void to_floats(const Regs& r, float out[4]) {
    out[0] = r.v.x; out[1] = r.v.y; out[2] = r.v.z; out[3] = r.v.w;
  }
};

// Bytes the generic kernels' loads need weight rows aligned to: 16-byte loads of the regrouped
// layouts, 4-byte ones of q4_1 / q4_k / q5_k, 2-byte ones of the rest.
constexpr int64_t weight_row_alignment(DType t) {
  if (t == DType::Q4_0C || t == DType::Q4_KC) return 16;
  if (t == DType::Q4_1 || t == DType::Q4_K || t == DType::Q5_K) return 4;
  return 2;
}

// True for the types whose matrix-vector kernel takes int8 activations (XBlock).
constexpr bool uses_xblocks(DType t) {
  return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_1 || t == DType::Q4_K ||
         t == DType::Q5_K || t == DType::Q6_K || t == DType::Q4_0C || t == DType::Q4_KC;
}

}  // namespace llmr::cuda_ops
