// Portable kernels: every weight chunk of 32 is decoded to integers q with w = a * q + b (a, b per
// 16 elements), then dotted with 8-bit activations in integers. Also the reference for the SIMD
// levels' structure, and the fallback on processors without AVX2.
#include "backend/cpu/matmul_kernels.h"
#include "tensor/half.h"
#include "tensor/quant_blocks.h"

namespace llmr::cpu {
namespace {

using namespace llmr::quant;

struct Chunk {
  int q[32];
  float a[2], b[2];  // per half of 16
};

void decode_q8_0(const void* row, int64_t c, Chunk& ch) {
  const auto& blk = static_cast<const BlockQ8_0*>(row)[c];
  for (int i = 0; i < 32; ++i) ch.q[i] = blk.qs[i];
  ch.a[0] = ch.a[1] = f16_to_f32(blk.d);
  ch.b[0] = ch.b[1] = 0.f;
}

void decode_q4_0(const void* row, int64_t c, Chunk& ch) {
  const auto& blk = static_cast<const BlockQ4_0*>(row)[c];
  for (int i = 0; i < 16; ++i) {
    ch.q[i] = blk.qs[i] & 0xF;
    ch.q[i + 16] = blk.qs[i] >> 4;
  }
  ch.a[0] = ch.a[1] = f16_to_f32(blk.d);
  ch.b[0] = ch.b[1] = -8.f * ch.a[0];
}

void decode_q4_1(const void* row, int64_t c, Chunk& ch) {
  const auto& blk = static_cast<const BlockQ4_1*>(row)[c];
  for (int i = 0; i < 16; ++i) {
    ch.q[i] = blk.qs[i] & 0xF;
    ch.q[i + 16] = blk.qs[i] >> 4;
  }
  ch.a[0] = ch.a[1] = f16_to_f32(blk.d);
  ch.b[0] = ch.b[1] = f16_to_f32(blk.m);
}

// Sub-block j of q4_k / q5_k: pair p = j / 2 of 32 bytes, low nibbles for even j, high for odd.
template <typename Block>
void k4_scales(const Block& blk, int j, Chunk& ch) {
  uint8_t sc, m;
  scale_min_k4(j, blk.scales, sc, m);
  ch.a[0] = ch.a[1] = f16_to_f32(blk.d) * float(sc);
  ch.b[0] = ch.b[1] = -(f16_to_f32(blk.dmin) * float(m));
}

void decode_q4_k(const void* row, int64_t c, Chunk& ch) {
  const auto& blk = static_cast<const BlockQ4_K*>(row)[c / 8];
  const int j = int(c % 8), shift = 4 * (j % 2);
  for (int l = 0; l < 32; ++l) ch.q[l] = (blk.qs[32 * (j / 2) + l] >> shift) & 0xF;
  k4_scales(blk, j, ch);
}

void decode_q5_k(const void* row, int64_t c, Chunk& ch) {
  const auto& blk = static_cast<const BlockQ5_K*>(row)[c / 8];
  const int j = int(c % 8), shift = 4 * (j % 2);
  for (int l = 0; l < 32; ++l)
    ch.q[l] = ((blk.qs[32 * (j / 2) + l] >> shift) & 0xF) | (((blk.qh[l] >> j) & 1) << 4);
  k4_scales(blk, j, ch);
}

void decode_q6_k(const void* row, int64_t c, Chunk& ch) {
  const auto& blk = static_cast<const BlockQ6_K*>(row)[c / 8];
  const int h = int(c % 8) / 4, k = int(c % 4);
  const uint8_t* ql = blk.ql + 64 * h + 32 * (k % 2);
  const uint8_t* qh = blk.qh + 32 * h;
  for (int l = 0; l < 32; ++l) ch.q[l] = ((ql[l] >> (k < 2 ? 0 : 4)) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4);
  const float d = f16_to_f32(blk.d);
  for (int half = 0; half < 2; ++half) {
    ch.a[half] = d * float(blk.scales[8 * h + 2 * k + half]);
    ch.b[half] = -32.f * ch.a[half];
  }
}

template <void (*Decode)(const void*, int64_t, Chunk&)>
void quant_rows(const void* wrow, const void* act, int64_t stride, int nt, int64_t n, float* out) {
  const auto* xb = static_cast<const ActBlock*>(act);
  float acc[kTokenTile] = {};
  Chunk ch;
  for (int64_t c = 0; c < n / 32; ++c) {
    Decode(wrow, c, ch);
    for (int t = 0; t < nt; ++t) {
      const ActBlock& x = xb[t * stride + c];
      int dot[2] = {0, 0};
      for (int i = 0; i < 32; ++i) dot[i / 16] += ch.q[i] * x.qs[i];
      acc[t] += x.d * (ch.a[0] * float(dot[0]) + ch.a[1] * float(dot[1])) + ch.b[0] * x.s0 + ch.b[1] * x.s1;
    }
  }
  for (int t = 0; t < nt; ++t) out[t] = acc[t];
}

template <float (*Load)(const void*, int64_t)>
void float_rows(const void* wrow, const void* act, int64_t stride, int nt, int64_t n, float* out) {
  const auto* x = static_cast<const float*>(act);
  float acc[kTokenTile] = {};
  for (int64_t k = 0; k < n; ++k) {
    const float w = Load(wrow, k);
    for (int t = 0; t < nt; ++t) acc[t] += w * x[t * stride + k];
  }
  for (int t = 0; t < nt; ++t) out[t] = acc[t];
}

float load_f32(const void* p, int64_t k) { return static_cast<const float*>(p)[k]; }
float load_f16(const void* p, int64_t k) { return f16_to_f32(static_cast<const uint16_t*>(p)[k]); }
float load_bf16(const void* p, int64_t k) { return bf16_to_f32(static_cast<const uint16_t*>(p)[k]); }

}  // namespace

RowDotFn row_dot_scalar(DType type) {
  switch (type) {
    case DType::F32: return float_rows<load_f32>;
    case DType::F16: return float_rows<load_f16>;
    case DType::BF16: return float_rows<load_bf16>;
    case DType::Q8_0: return quant_rows<decode_q8_0>;
    case DType::Q4_0: return quant_rows<decode_q4_0>;
    case DType::Q4_1: return quant_rows<decode_q4_1>;
    case DType::Q4_K: return quant_rows<decode_q4_k>;
    case DType::Q5_K: return quant_rows<decode_q5_k>;
    case DType::Q6_K: return quant_rows<decode_q6_k>;
    default: return nullptr;
  }
}

}  // namespace llmr::cpu
