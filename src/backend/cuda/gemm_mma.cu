// Quantized-weight GEMM on tensor cores for batches: y[T, n_out] = x[T, n_in] W^T (+ bias), reading W's
// quantized bytes directly (the older path writes and reads an f16 copy of all of W first).
// - x is converted once to an f16 copy [T, n_in].
// - A block owns kBM = 128 weight rows x BN tokens (16, 32 or 64); 8 warps, warp w owns rows 16w..16w+15
//   and every token of the block. K advances one stage of 256 elements: one k-quant super-block, or eight
//   q4_0 / q4_1 / q8_0 blocks.
// - Each stage's raw weight bytes (per row: the 16-byte granules that cover them) and its f16 x tile
//   travel global -> shared by cp.async, kStages deep. The block decodes the raw bytes into an f16 tile in
//   shared memory (the values of the old path: Unit<W>::to_floats rounded to f16, bit for bit, see
//   unit_halves), and the warps multiply it by the x tile with mma.sync m16n8k16 (f16 in, f32
//   accumulate), operands fetched by ldmatrix.
// - When the tiles do not fill the GPU, K is split: each split writes f32 partials and a second kernel
//   sums them in a fixed order (deterministic) and adds the bias.
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backend/cuda/device_limits.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/matmul_kernels.h"
#include "backend/cuda/quant_device.cuh"

namespace llmr::cuda_ops {
namespace {

constexpr int kThreads = 256;          // 8 warps
constexpr int kBM = 128;               // weight rows per block: 16 per warp
constexpr int kKS = 256;               // elements of K per pipeline stage
constexpr int kDecPitch = kKS + 8;     // halves per shared row: 528 bytes = 33 granules, so the 8 rows an
                                       // ldmatrix reads fall in 8 different bank groups
constexpr int kSmemLimit = 227 * 1024;  // opt-in dynamic shared memory per block on sm_90

// Block geometry of the supported types (tensor/quant_blocks.h) and the alignment their decoders need.
template <DType W>
struct Geometry;
template <> struct Geometry<DType::Q4_0> { static constexpr int kBytes = 18, kElems = 32, kAlign = 2; };
template <> struct Geometry<DType::Q8_0> { static constexpr int kBytes = 34, kElems = 32, kAlign = 2; };
template <> struct Geometry<DType::Q4_1> { static constexpr int kBytes = 20, kElems = 32, kAlign = 4; };
template <> struct Geometry<DType::Q4_K> { static constexpr int kBytes = 144, kElems = 256, kAlign = 4; };
template <> struct Geometry<DType::Q5_K> { static constexpr int kBytes = 176, kElems = 256, kAlign = 4; };
template <> struct Geometry<DType::Q6_K> { static constexpr int kBytes = 210, kElems = 256, kAlign = 2; };
// a block: one 8-unit record of tensor/unit_records.h
template <> struct Geometry<DType::Q4_0C> { static constexpr int kBytes = 144, kElems = 256, kAlign = 16; };
template <> struct Geometry<DType::Q4_KC> { static constexpr int kBytes = 144, kElems = 256, kAlign = 16; };

// Shared-memory layout of one instantiation.
template <DType W, int BN>
struct Layout {
  static constexpr int kStageBytes = Geometry<W>::kBytes * (kKS / Geometry<W>::kElems);  // per row
  // Granules covering kStageBytes from any offset 0..15 in a granule; odd count spreads rows over banks.
  static constexpr int kGranMin = (kStageBytes + 15 + 15) / 16;
  static constexpr int kGran = kGranMin % 2 ? kGranMin : kGranMin + 1;
  static constexpr int kRawPitch = kGran * 16;
  static constexpr int kRawStage = kBM * kRawPitch;        // bytes
  static constexpr int kXStage = BN * kDecPitch * 2;       // bytes
  static constexpr int kDecBytes = kBM * kDecPitch * 2;    // bytes
  static constexpr int bytes(int stages) { return stages * (kRawStage + kXStage) + kDecBytes; }
  static constexpr int kStages = bytes(4) <= kSmemLimit ? 4 : bytes(3) <= kSmemLimit ? 3 : 2;
  static constexpr int kBytesTotal = bytes(kStages);
  static_assert(bytes(2) <= kSmemLimit, "gemm_mma: tile does not fit in shared memory");
};

// ---- PTX wrappers

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }

// 16 bytes global -> shared; bytes past src_bytes (0..16) are filled with zeros and not read.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

__device__ __forceinline__ void ldmatrix_x4(const void* p, uint32_t r[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p))
               : "memory");
}

// c += a (16x16, row-major) * b (16x8, column-major); f16 inputs, f32 accumulators.
__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---- one 32-element unit's registers (Unit<W>::Regs) from the raw bytes in shared memory, read as
// ---- Unit<W>::load reads them from global memory (q4_1 and the k-quants; q4_0 and q8_0 are decoded
// ---- straight from the bytes). `chunk`: the row's bytes of this stage.

__device__ __forceinline__ uint32_t sh_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
__device__ __forceinline__ uint32_t sh_u32(const uint8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }
// Four bytes from a 2-byte aligned address.
__device__ __forceinline__ uint32_t sh_u32_a2(const uint8_t* p) { return sh_u16(p) | (sh_u16(p + 2) << 16); }

template <DType W>
__device__ __forceinline__ typename Unit<W>::Regs shared_unit(const uint8_t* chunk, int u);

template <>
__device__ __forceinline__ Unit<DType::Q4_1>::Regs shared_unit<DType::Q4_1>(const uint8_t* chunk, int u) {
  const uint8_t* b = chunk + 20 * u;
  Unit<DType::Q4_1>::Regs r;
  const uint32_t dm = sh_u32(b);
  r.d = half_bits_to_f32(uint16_t(dm & 0xFFFF));
  r.m = half_bits_to_f32(uint16_t(dm >> 16));
#pragma unroll
  for (int i = 0; i < 4; ++i) r.q[i] = int(sh_u32(b + 4 + 4 * i));
  return r;
}

// d * scale and dmin * min of sub-block j of the q4_k / q5_k super-block at b: scale_min_k4 on the 12
// scale bytes as three words (byte k of word i = scales[4i + k]), so a run-time j needs no local array.
__device__ __forceinline__ void shared_k4_scales(const uint8_t* b, int j, float& dsc, float& dm) {
  const uint32_t dd = sh_u32(b), w0 = sh_u32(b + 4), w1 = sh_u32(b + 8), w2 = sh_u32(b + 12);
  const int sh = 8 * (j & 3);
  const uint32_t b0 = (w0 >> sh) & 0xFF, b1 = (w1 >> sh) & 0xFF, b2 = (w2 >> sh) & 0xFF;
  // j < 4: scales[j], scales[j + 4]; j >= 4: scales[j + 4] nibbles plus the top bits of scales[j - 4], scales[j]
  const uint32_t sc = j < 4 ? (b0 & 63) : ((b2 & 0xF) | ((b0 >> 6) << 4));
  const uint32_t m = j < 4 ? (b1 & 63) : ((b2 >> 4) | ((b1 >> 6) << 4));
  dsc = half_bits_to_f32(uint16_t(dd & 0xFFFF)) * float(sc);
  dm = half_bits_to_f32(uint16_t(dd >> 16)) * float(m);
}

template <>
__device__ __forceinline__ Unit<DType::Q4_K>::Regs shared_unit<DType::Q4_K>(const uint8_t* b, int j) {
  const int shift = 4 * (j & 1);
  Unit<DType::Q4_K>::Regs r;
  shared_k4_scales(b, j, r.dsc, r.dm);
  const uint8_t* qs = b + 16 + 32 * (j >> 1);
#pragma unroll
  for (int i = 0; i < 8; ++i) r.q[i] = int((sh_u32(qs + 4 * i) >> shift) & 0x0F0F0F0Fu);
  return r;
}

template <>
__device__ __forceinline__ Unit<DType::Q5_K>::Regs shared_unit<DType::Q5_K>(const uint8_t* b, int j) {
  const int shift = 4 * (j & 1);
  Unit<DType::Q5_K>::Regs r;
  shared_k4_scales(b, j, r.dsc, r.dm);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48 + 32 * (j >> 1);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t lo = (sh_u32(qs + 4 * i) >> shift) & 0x0F0F0F0Fu;
    const uint32_t hi = ((sh_u32(qh + 4 * i) >> j) & 0x01010101u) << 4;
    r.q[i] = int(lo | hi);
  }
  return r;
}

template <>
__device__ __forceinline__ Unit<DType::Q6_K>::Regs shared_unit<DType::Q6_K>(const uint8_t* b, int kk) {
  const int h = kk >> 2, k = kk & 3;
  const uint8_t* ql = b + 64 * h + 32 * (k & 1);
  const uint8_t* qh = b + 128 + 32 * h;
  const int lshift = 4 * (k >> 1), hshift = 2 * k;
  Unit<DType::Q6_K>::Regs r;
  const float d = half_bits_to_f32(uint16_t(sh_u16(b + 208)));
  const uint32_t sc = sh_u16(b + 192 + 8 * h + 2 * k);
  r.d0 = d * float(int8_t(sc & 0xFF));
  r.d1 = d * float(int8_t(sc >> 8));
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t lo = (sh_u32_a2(ql + 4 * i) >> lshift) & 0x0F0F0F0Fu;
    const uint32_t hi = ((sh_u32_a2(qh + 4 * i) >> hshift) & 0x03030303u) << 4;
    r.q[i] = int(lo | hi);
  }
  return r;
}

__device__ __forceinline__ uint32_t pack_half2(float a, float b) {
  const __half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// ---- one unit's 32 values as 16 f16 pairs (word i: elements 2i, 2i+1), bit-identical to rounding
// ---- Unit<W>::to_floats to f16 (the old path's values), without its int -> float conversions:
// - q4_0 / q8_0: 0x6400 | b is the half 1024 + b; subtracting 1024 + offset gives the integer exactly and
//   one f16 multiply by the f16 scale rounds the exact product once, as the f32 product (exact: at
//   most 8 x 11 significant bits) rounded to f16 does.
// - other types: 0x4B000000 | b is the float 2^23 + b; the same f32 arithmetic as to_floats (whose
//   products with the scales are exact, so a fused multiply-add rounds identically), then one rounding.

// Bytes k and k+1 of w as halves 1024 + byte.
template <int k>
__device__ __forceinline__ uint32_t bytes_as_halves(uint32_t w) {
  return __byte_perm(w, 0x64646464u, k | 4 << 4 | (k + 1) << 8 | 4 << 12);
}
// Byte k of w as the float 2^23 + byte.
template <int k>
__device__ __forceinline__ float byte_as_float(uint32_t w) {
  return __int_as_float(int(__byte_perm(w, 0x4B000000u, k | 4 << 4 | 4 << 8 | 7 << 12)));
}
__device__ __forceinline__ uint32_t half2_bits(__half2 h) { return *reinterpret_cast<const uint32_t*>(&h); }
__device__ __forceinline__ __half2 bits_half2(uint32_t u) { return *reinterpret_cast<const __half2*>(&u); }
// (halves - offset) * scale, both halves of the word.
__device__ __forceinline__ uint32_t scale_halves(uint32_t halves, __half2 offset, __half2 scale) {
  return half2_bits(__hmul2(__hsub2(bits_half2(halves), offset), scale));
}

template <DType W>
__device__ __forceinline__ void unit_halves(const uint8_t* chunk, int u, uint32_t h[16]);

template <>
__device__ __forceinline__ void unit_halves<DType::Q8_0>(const uint8_t* chunk, int u, uint32_t h[16]) {
  const uint8_t* b = chunk + 34 * u;
  const uint32_t d = sh_u16(b);
  const __half2 scale = bits_half2(d | d << 16), offset = __float2half2_rn(1024.f + 128.f);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t w = sh_u32_a2(b + 2 + 4 * i) ^ 0x80808080u;  // int8 q -> byte q + 128
    h[2 * i] = scale_halves(bytes_as_halves<0>(w), offset, scale);
    h[2 * i + 1] = scale_halves(bytes_as_halves<2>(w), offset, scale);
  }
}

// q4_0's values from its f16 scale bits d and its four words of nibbles (q4_0's order).
__device__ __forceinline__ void q4_0_halves(uint32_t d, const uint32_t (&q)[4], uint32_t h[16]) {
  const __half2 scale = bits_half2(d | d << 16), offset = __float2half2_rn(1024.f + 8.f);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t lo = q[i] & 0x0F0F0F0Fu, hi = (q[i] >> 4) & 0x0F0F0F0Fu;  // elements 4i.., 16 + 4i..
    h[2 * i] = scale_halves(bytes_as_halves<0>(lo), offset, scale);
    h[2 * i + 1] = scale_halves(bytes_as_halves<2>(lo), offset, scale);
    h[8 + 2 * i] = scale_halves(bytes_as_halves<0>(hi), offset, scale);
    h[8 + 2 * i + 1] = scale_halves(bytes_as_halves<2>(hi), offset, scale);
  }
}

template <>
__device__ __forceinline__ void unit_halves<DType::Q4_0>(const uint8_t* chunk, int u, uint32_t h[16]) {
  const uint8_t* b = chunk + 18 * u;
  const uint32_t q[4] = {sh_u32_a2(b + 2), sh_u32_a2(b + 6), sh_u32_a2(b + 10), sh_u32_a2(b + 14)};
  q4_0_halves(sh_u16(b), q, h);
}

template <>
__device__ __forceinline__ void unit_halves<DType::Q4_1>(const uint8_t* chunk, int u, uint32_t h[16]) {
  const Unit<DType::Q4_1>::Regs r = shared_unit<DType::Q4_1>(chunk, u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t lo = uint32_t(r.q[i]) & 0x0F0F0F0Fu, hi = (uint32_t(r.q[i]) >> 4) & 0x0F0F0F0Fu;
    // q d + m
    h[2 * i] = pack_half2(fmaf(byte_as_float<0>(lo) - 8388608.f, r.d, r.m), fmaf(byte_as_float<1>(lo) - 8388608.f, r.d, r.m));
    h[2 * i + 1] = pack_half2(fmaf(byte_as_float<2>(lo) - 8388608.f, r.d, r.m), fmaf(byte_as_float<3>(lo) - 8388608.f, r.d, r.m));
    h[8 + 2 * i] = pack_half2(fmaf(byte_as_float<0>(hi) - 8388608.f, r.d, r.m), fmaf(byte_as_float<1>(hi) - 8388608.f, r.d, r.m));
    h[8 + 2 * i + 1] = pack_half2(fmaf(byte_as_float<2>(hi) - 8388608.f, r.d, r.m), fmaf(byte_as_float<3>(hi) - 8388608.f, r.d, r.m));
  }
}

// q4_k / q5_k: dsc q - dm for the 32 byte values of r.q.
template <typename Regs>
__device__ __forceinline__ void k4_halves(const Regs& r, uint32_t h[16]) {
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t w = uint32_t(r.q[i]);
    h[2 * i] = pack_half2(fmaf(r.dsc, byte_as_float<0>(w) - 8388608.f, -r.dm), fmaf(r.dsc, byte_as_float<1>(w) - 8388608.f, -r.dm));
    h[2 * i + 1] = pack_half2(fmaf(r.dsc, byte_as_float<2>(w) - 8388608.f, -r.dm), fmaf(r.dsc, byte_as_float<3>(w) - 8388608.f, -r.dm));
  }
}

template <>
__device__ __forceinline__ void unit_halves<DType::Q4_K>(const uint8_t* chunk, int u, uint32_t h[16]) {
  k4_halves(shared_unit<DType::Q4_K>(chunk, u), h);
}

template <>
__device__ __forceinline__ void unit_halves<DType::Q5_K>(const uint8_t* chunk, int u, uint32_t h[16]) {
  k4_halves(shared_unit<DType::Q5_K>(chunk, u), h);
}

template <>
__device__ __forceinline__ void unit_halves<DType::Q6_K>(const uint8_t* chunk, int u, uint32_t h[16]) {
  const Unit<DType::Q6_K>::Regs r = shared_unit<DType::Q6_K>(chunk, u);
  constexpr float kBias = 8388608.f + 32.f;  // 2^23 + 32: (2^23 + q) - kBias = q - 32 exactly
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t w = uint32_t(r.q[i]);
    const float d = i < 4 ? r.d0 : r.d1;  // scales per 16 elements
    h[2 * i] = pack_half2(d * (byte_as_float<0>(w) - kBias), d * (byte_as_float<1>(w) - kBias));
    h[2 * i + 1] = pack_half2(d * (byte_as_float<2>(w) - kBias), d * (byte_as_float<3>(w) - kBias));
  }
}

// The regrouped layouts: the stage is one record; unit u's scale (Q4_0C) or the super-block header (Q4_KC)
// first, its quants at 16 + 16u in q4_0's nibble order. Values as their plain types'.
template <>
__device__ __forceinline__ void unit_halves<DType::Q4_0C>(const uint8_t* rec, int u, uint32_t h[16]) {
  const uint8_t* qs = rec + 16 + 16 * u;
  const uint32_t q[4] = {sh_u32(qs), sh_u32(qs + 4), sh_u32(qs + 8), sh_u32(qs + 12)};
  q4_0_halves(sh_u16(rec + 2 * u), q, h);
}

template <>
__device__ __forceinline__ void unit_halves<DType::Q4_KC>(const uint8_t* rec, int u, uint32_t h[16]) {
  Unit<DType::Q4_K>::Regs r;  // one value a byte, as k4_halves takes them
  k4_header_scales(*reinterpret_cast<const uint4*>(rec), u, r.dsc, r.dm);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t q = sh_u32(rec + 16 + 16 * u + 4 * i);
    r.q[i] = int(q & 0x0F0F0F0Fu);             // elements 4i..4i+3
    r.q[4 + i] = int((q >> 4) & 0x0F0F0F0Fu);  // elements 16 + 4i..
  }
  k4_halves(r, h);
}

struct MmaArgs {
  const uint8_t* w;
  int64_t w_stride;    // bytes between weight rows
  int n_out, n_in, T;
  const __half* x16;   // [T, n_in] contiguous
  const float* bias;   // [n_out] or null
  float* y;            // [T, ldy]
  int64_t ldy;         // floats
  float* part;         // [splits, T, n_out] when split, else null
  int stages_per_split;
};

template <DType W, int BN>
__global__ void __launch_bounds__(kThreads, 1) gemm_mma_kernel(const MmaArgs p) {
  using L = Layout<W, BN>;
  constexpr int kStages = L::kStages;
  constexpr bool kSmallBlocks = Geometry<W>::kElems == 32;  // a stage holds 8 blocks, maybe fewer at the end
  extern __shared__ __align__(16) uint8_t smem[];
  uint8_t* raw = smem;                                                         // [kStages][kBM][kRawPitch]
  __half* xs = reinterpret_cast<__half*>(smem + kStages * L::kRawStage);       // [kStages][BN][kDecPitch]
  __half* dec = xs + kStages * BN * kDecPitch;                                 // [kBM][kDecPitch]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int n0 = blockIdx.x * BN, m0 = blockIdx.y * kBM;
  const int total_stages = (p.n_in + kKS - 1) / kKS;
  const int s_begin = blockIdx.z * p.stages_per_split;
  const int count = min(total_stages, s_begin + p.stages_per_split) - s_begin;

  // Where row r's bytes of stage s start in global memory (rows past n_out repeat the last row, so
  // every byte read is the weight's own and nothing is left undefined; their outputs are not written).
  auto row_stage_addr = [&](int r, int s) -> uintptr_t {
    const int64_t row = min(m0 + r, p.n_out - 1);
    return reinterpret_cast<uintptr_t>(p.w + row * p.w_stride + int64_t(s) * L::kStageBytes);
  };
  // Units (32 elements) in stage s: 8, fewer in the last stage of a q4_0/q4_1/q8_0 row of n_in % 256 != 0.
  auto stage_units = [&](int s) { return kSmallBlocks ? min(8, p.n_in / 32 - s * 8) : 8; };

  auto load_stage = [&](int s, int buf) {
    uint8_t* rb = raw + buf * L::kRawStage;
    const int bytes = kSmallBlocks ? stage_units(s) * Geometry<W>::kBytes : Geometry<W>::kBytes;
    for (int idx = tid; idx < kBM * L::kGran; idx += kThreads) {
      const int r = idx / L::kGran, g = idx % L::kGran;
      const uintptr_t a = row_stage_addr(r, s);
      const uintptr_t start = (a & ~uintptr_t(15)) + 16 * uintptr_t(g);
      const int64_t remain = int64_t(a + bytes) - int64_t(start);  // bytes of the row's chunk from start on
      if (remain > 0)
        cp_async16(rb + r * L::kRawPitch + 16 * g, reinterpret_cast<const void*>(start), remain < 16 ? int(remain) : 16);
    }
    __half* xb = xs + buf * BN * kDecPitch;
    for (int idx = tid; idx < BN * (kKS / 8); idx += kThreads) {
      const int tok = idx / (kKS / 8), k = s * kKS + (idx % (kKS / 8)) * 8;
      const bool ok = n0 + tok < p.T && k < p.n_in;  // tokens past T and K past n_in are zeros
      const __half* src = ok ? p.x16 + int64_t(n0 + tok) * p.n_in + k : p.x16;
      cp_async16(xb + tok * kDecPitch + (idx % (kKS / 8)) * 8, src, ok ? 16 : 0);
    }
  };

  // Raw bytes of stage s -> f16 [kBM][kKS] in dec. Thread -> (row, unit): the 8 threads of a quarter warp
  // take the 8 units of one row; each stores its 4 granules rotated by unit/2 so that each of the 4
  // stores of a quarter warp covers 8 distinct bank groups.
  auto decode_stage = [&](int s, int buf) {
    const uint8_t* rb = raw + buf * L::kRawStage;
    const int units = stage_units(s);
#pragma unroll 1
    for (int j = 0; j < kBM * 8 / kThreads; ++j) {
      const int idx = j * kThreads + tid, r = idx >> 3, u = idx & 7;
      uint4 g[4] = {};
      if (u < units) {
        const uint8_t* chunk = rb + r * L::kRawPitch + (row_stage_addr(r, s) & 15);
        uint32_t h[16];
        unit_halves<W>(chunk, u, h);
#pragma unroll
        for (int k = 0; k < 4; ++k) g[k] = make_uint4(h[4 * k], h[4 * k + 1], h[4 * k + 2], h[4 * k + 3]);
      }
      const int rot = u >> 1;
      if (rot & 1) {
        const uint4 t = g[0];
        g[0] = g[1]; g[1] = g[2]; g[2] = g[3]; g[3] = t;
      }
      if (rot & 2) {
        uint4 t = g[0]; g[0] = g[2]; g[2] = t;
        t = g[1]; g[1] = g[3]; g[3] = t;
      }
      // now g[k] holds granule (k + rot) & 3 of the unit
      uint4* dst = reinterpret_cast<uint4*>(dec + r * kDecPitch + u * 32);
#pragma unroll
      for (int k = 0; k < 4; ++k) dst[(k + rot) & 3] = g[k];
    }
  };

  float acc[BN / 8][4] = {};
  // ldmatrix addresses (see the PTX fragment layouts of mma.m16n8k16): A's four 8x8 matrices are
  // (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15), lane l giving row
  // l & 15 at k 8 (l >> 4); B's, for tokens 16p..16p+15 (x rows = B's columns), are (tokens 0-7, k 0-7),
  // (tokens 0-7, k 8-15), (tokens 8-15, k 0-7), (tokens 8-15, k 8-15), lane l giving token
  // (l & 7) + 8 (l >> 4) at k 8 ((l >> 3) & 1).
  const __half* a_base = dec + (16 * warp + (lane & 15)) * kDecPitch + (lane >> 4) * 8;
  const int b_off = ((lane & 7) + 8 * (lane >> 4)) * kDecPitch + ((lane >> 3) & 1) * 8;
  auto mma_stage = [&](int buf) {
    const __half* xb = xs + buf * BN * kDecPitch + b_off;
#pragma unroll
    for (int kk = 0; kk < kKS / 16; ++kk) {
      uint32_t a[4];
      ldmatrix_x4(a_base + kk * 16, a);
#pragma unroll
      for (int pr = 0; pr < BN / 16; ++pr) {
        uint32_t b[4];
        ldmatrix_x4(xb + pr * 16 * kDecPitch + kk * 16, b);
        mma_16816(acc[2 * pr], a, b[0], b[1]);
        mma_16816(acc[2 * pr + 1], a, b[2], b[3]);
      }
    }
  };

#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (i < count) load_stage(s_begin + i, i);
    cp_async_commit();  // empty groups keep the count uniform
  }
#pragma unroll 1
  for (int i = 0; i < count; ++i) {
    cp_async_wait<kStages - 2>();  // this thread's copies of stage i are done
    __syncthreads();               // everyone's are; and every warp is past stage i-1 (its buffer and dec are free)
    if (i + kStages - 1 < count) load_stage(s_begin + i + kStages - 1, (i + kStages - 1) % kStages);
    cp_async_commit();
    decode_stage(s_begin + i, i % kStages);
    __syncthreads();
    mma_stage(i % kStages);
  }

  // C fragment: c0, c1 at (row g, tokens 2t, 2t+1), c2, c3 at (row g + 8, same tokens).
  const int g = lane >> 2, t2 = 2 * (lane & 3);
#pragma unroll
  for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int row = m0 + 16 * warp + g + 8 * (c >> 1), tok = n0 + 8 * nt + t2 + (c & 1);
      if (row >= p.n_out || tok >= p.T) continue;
      if (p.part) {
        p.part[(int64_t(blockIdx.z) * p.T + tok) * p.n_out + row] = acc[nt][c];
      } else {
        p.y[int64_t(tok) * p.ldy + row] = acc[nt][c] + (p.bias ? p.bias[row] : 0.f);
      }
    }
}

// y[t][o] = sum over splits of part[s][t][o] (in split order) + bias[o].
__global__ void sum_splits_kernel(const float* __restrict__ part, int splits, int64_t T, int64_t n_out,
                                  const float* __restrict__ bias, float* __restrict__ y, int64_t ldy) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= T * n_out) return;
  const int64_t t = i / n_out, o = i % n_out;
  float sum = 0.f;
  for (int s = 0; s < splits; ++s) sum += part[s * T * n_out + i];
  y[t * ldy + o] = sum + (bias ? bias[o] : 0.f);
}

// x [T, n] f32 (rows 4-byte aligned, strided) -> f16 [T, n] contiguous; 8 elements per thread (n % 32 == 0).
__global__ void x_to_f16_kernel(const float* __restrict__ x, int64_t x_stride, int64_t T, int64_t n,
                                __half* __restrict__ out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, per_row = n / 8;
  if (i >= T * per_row) return;
  const int64_t t = i / per_row, c = (i % per_row) * 8;
  const float* src = x + t * x_stride + c;
  uint4 v;
  v.x = pack_half2(src[0], src[1]);
  v.y = pack_half2(src[2], src[3]);
  v.z = pack_half2(src[4], src[5]);
  v.w = pack_half2(src[6], src[7]);
  *reinterpret_cast<uint4*>(out + t * n + c) = v;
}

unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

// False when the device cannot give a block the tile's shared memory (then the caller takes gemm()).
template <DType W, int BN>
bool launch(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream) {
  using L = Layout<W, BN>;
  const int64_t T = x.shape[0], n_in = x.shape[1], n_out = w.shape[0];
  const DeviceLimits lim = device_limits("matmul");
  const int sms = lim.multiprocessors, optin = lim.smem_per_block_optin, per_sm_bytes = lim.smem_per_multiprocessor;
  if (optin < L::kBytesTotal) return false;
  // Set on every call: the attribute belongs to the current device, and several may be in use.
  check_cuda(cudaFuncSetAttribute(gemm_mma_kernel<W, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  L::kBytesTotal),
             "matmul", "cudaFuncSetAttribute (gemm_mma)");

  // Split K so that the blocks fill the SMs (by their shared memory) in as little time as
  // possible: time ~ waves x stages per block, 5% more for any split (partials written and summed).
  const int64_t m_tiles = (n_out + kBM - 1) / kBM, n_tiles = (T + BN - 1) / BN;
  const int64_t total_stages = (n_in + kKS - 1) / kKS;
  const int64_t per_sm = std::max<int64_t>(1, per_sm_bytes / (L::kBytesTotal + 1024));  // 1 KB reserved per block
  const int64_t slots = int64_t(sms) * per_sm, tiles = m_tiles * n_tiles;
  int64_t splits = 1, per_split = total_stages;
  double best = 0;
  for (int64_t s = 1; s <= std::min<int64_t>(32, total_stages); ++s) {
    const int64_t ps = (total_stages + s - 1) / s, real = (total_stages + ps - 1) / ps;  // no empty split
    const double cost = double((tiles * real + slots - 1) / slots * ps) * (real > 1 ? 1.05 : 1.0);
    if (s == 1 || cost < best) {
      best = cost;
      splits = real;
      per_split = ps;
    }
  }

  StreamScratch xh(size_t(T * n_in) * 2, stream, "matmul");
  x_to_f16_kernel<<<blocks_for(T * n_in / 8, 256), 256, 0, stream>>>(static_cast<const float*>(x.data),
                                                                     x.stride[0] / 4, T, n_in, xh.as<__half>());
  check_launch("matmul", "x_to_f16_kernel");
  StreamScratch part(splits > 1 ? size_t(splits * T * n_out) * 4 : 0, stream, "matmul");

  MmaArgs a;
  a.w = static_cast<const uint8_t*>(w.data);
  a.w_stride = w.stride[0];
  a.n_out = int(n_out);
  a.n_in = int(n_in);
  a.T = int(T);
  a.x16 = xh.as<__half>();
  a.bias = bias ? static_cast<const float*>(bias->data) : nullptr;
  a.y = static_cast<float*>(y.data);
  a.ldy = y.stride[0] / 4;
  a.part = splits > 1 ? part.as<float>() : nullptr;
  a.stages_per_split = int(per_split);
  const dim3 grid{unsigned(n_tiles), unsigned(m_tiles), unsigned(splits)};
  gemm_mma_kernel<W, BN><<<grid, kThreads, L::kBytesTotal, stream>>>(a);
  check_launch("matmul", "gemm_mma_kernel");
  if (splits > 1) {
    sum_splits_kernel<<<blocks_for(T * n_out, 256), 256, 0, stream>>>(part.as<float>(), int(splits), T, n_out, a.bias,
                                                                       a.y, a.ldy);
    check_launch("matmul", "sum_splits_kernel");
  }
  return true;
}

template <DType W>
bool launch_type(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream) {
  constexpr int align = Geometry<W>::kAlign;
  if (reinterpret_cast<uintptr_t>(w.data) % align != 0 || w.stride[0] % align != 0) return false;
  if (x.shape[1] % Geometry<W>::kElems != 0) return false;
  const int64_t T = x.shape[0];
  if (T <= 16) return launch<W, 16>(x, w, bias, y, stream);
  if (T <= 32) return launch<W, 32>(x, w, bias, y, stream);
  return launch<W, 64>(x, w, bias, y, stream);
}

}  // namespace

bool gemm_mma(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream) {
  const int64_t T = x.shape[0], n_in = x.shape[1], n_out = w.shape[0];
  if (T <= 0 || n_out <= 0 || n_in <= 0) return false;
  // int indices in the kernel; grid y = row tiles
  if (T > INT32_MAX / 2 || n_in > INT32_MAX / 2 || n_out > INT32_MAX / 2 || (n_out + kBM - 1) / kBM > 65535)
    return false;
  switch (w.type) {
    case DType::Q4_0: return launch_type<DType::Q4_0>(x, w, bias, y, stream);
    case DType::Q8_0: return launch_type<DType::Q8_0>(x, w, bias, y, stream);
    case DType::Q4_1: return launch_type<DType::Q4_1>(x, w, bias, y, stream);
    case DType::Q4_K: return launch_type<DType::Q4_K>(x, w, bias, y, stream);
    case DType::Q5_K: return launch_type<DType::Q5_K>(x, w, bias, y, stream);
    case DType::Q6_K: return launch_type<DType::Q6_K>(x, w, bias, y, stream);
    case DType::Q4_0C: return launch_type<DType::Q4_0C>(x, w, bias, y, stream);
    case DType::Q4_KC: return launch_type<DType::Q4_KC>(x, w, bias, y, stream);
    default: return false;
  }
}

int64_t mma_max_tokens() {
  const char* v = std::getenv("LLMR_CUDA_MMA_MAX_TOKENS");
  // Past ~96 rows dequantize + cuBLAS wins on most Llama-3-8B shapes (cuda_gemm_bench on the H200).
  if (!v || !*v) return 96;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  check(*end == '\0' && n >= 0, std::string("LLMR_CUDA_MMA_MAX_TOKENS: expected a token count >= 0, got '") + v + "'");
  return n;
}

}  // namespace llmr::cuda_ops
