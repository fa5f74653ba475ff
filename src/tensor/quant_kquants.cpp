// q4_k, q5_k, q6_k: 256-element super-blocks with quantized per-sub-block scales. Dequantization
// matches ggml's dequantize_row_q*_K exactly (same float operations in the same order); the
// quantizers search per sub-block for the (scale, min) that minimises a weighted squared error,
// in the manner of llama.cpp's reference quantizers.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/half.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_impl.h"

namespace llmr::quant {
namespace {

inline int nearest(float v) { return int(std::lrintf(v)); }  // ties to even, as ggml's nearest_int
inline int clampi(int v, int lo, int hi) { return std::max(lo, std::min(hi, v)); }

// Fits x[i] ~ scale * L[i] - min_out (L in [0, nmax], min_out >= 0) under weights w: a first
// guess from the range, then a least-squares refit for each of nstep+1 candidate grids
// (nmax + rmin + rdelta*k steps across the range), keeping the lowest weighted error.
float fit_scale_min(const float* x, const float* w, int n, int nmax, uint8_t* L, float& min_out,
                    float rmin, float rdelta, int nstep) {
  float lo = x[0], hi = x[0], sum_w = 0.f, sum_x = 0.f;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  lo = std::min(lo, 0.f);  // the offset only ever shifts values up
  if (!(hi > lo)) {
    std::fill(L, L + n, uint8_t(0));
    min_out = -lo;
    return 0.f;
  }
  float iscale = float(nmax) / (hi - lo);
  float scale = 1.f / iscale, min = lo, best = 0.f;
  for (int i = 0; i < n; ++i) {
    L[i] = uint8_t(clampi(nearest(iscale * (x[i] - lo)), 0, nmax));
    const float diff = scale * L[i] + min - x[i];
    best += w[i] * diff * diff;
  }
  uint8_t cand[kQK];
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * float(step) + float(nmax)) / (hi - lo);
    float sum_l = 0.f, sum_l2 = 0.f, sum_xl = 0.f;
    for (int i = 0; i < n; ++i) {
      const int l = clampi(nearest(iscale * (x[i] - lo)), 0, nmax);
      cand[i] = uint8_t(l);
      sum_l += w[i] * float(l);
      sum_l2 += w[i] * float(l * l);
      sum_xl += w[i] * float(l) * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0.f)) continue;
    float s = (sum_w * sum_xl - sum_x * sum_l) / det;
    float m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (m > 0.f) {  // a positive offset is not representable: refit the scale alone
      m = 0.f;
      s = sum_xl / sum_l2;
    }
    float err = 0.f;
    for (int i = 0; i < n; ++i) {
      const float diff = s * cand[i] + m - x[i];
      err += w[i] * diff * diff;
    }
    if (err < best) {
      std::memcpy(L, cand, size_t(n));
      best = err;
      scale = s;
      min = m;
    }
  }
  min_out = -min;
  return scale;
}

// Fits x[i] ~ scale * q[i], q in [-nmax, nmax-1], weighting by x^2; tries 19 grids around the one
// that maps the largest magnitude to -nmax. Returns the scale (0 for an all-zero group).
float fit_symmetric_scale(const float* x, int n, int nmax) {
  float amax = 0.f, max = 0.f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  if (amax < 1e-15f) return 0.f;
  float best_scale = 0.f, best = -1.f;
  for (int k = 0; k <= 18; ++k) {
    const float shift = k == 0 ? 0.f : 0.1f * float(k <= 9 ? k - 10 : k - 9);
    const float iscale = -(float(nmax) + shift) / max;
    float sumlx = 0.f, suml2 = 0.f;
    for (int i = 0; i < n; ++i) {
      const int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * float(l);
      suml2 += w * float(l * l);
    }
    // The least-squares scale for this grid removes sumlx^2/suml2 of the weighted error.
    if (suml2 > 0.f && (best < 0.f || sumlx * sumlx > best * suml2)) {
      best_scale = sumlx / suml2;
      best = best_scale * sumlx;
    }
  }
  return best_scale;
}

// Quantizes one super-block's 8 sub-block (scale, min) pairs to 6 bits each, packed as in
// scale_min_k4; fills d and dmin. Returns the effective per-sub-block scales and mins.
template <typename Block>
void pack_scales_k4(Block& b, const float* scales, const float* mins, float* eff_d, float* eff_m) {
  float max_scale = 0.f, max_min = 0.f;
  for (int j = 0; j < 8; ++j) {
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0.f ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0.f ? 63.f / max_min : 0.f;
  std::memset(b.scales, 0, sizeof(b.scales));
  for (int j = 0; j < 8; ++j) {
    const int ls = std::min(63, nearest(inv_scale * scales[j]));
    const int lm = std::min(63, nearest(inv_min * mins[j]));
    if (j < 4) {
      b.scales[j] = uint8_t(ls);
      b.scales[j + 4] = uint8_t(lm);
    } else {
      b.scales[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
      b.scales[j - 4] |= uint8_t((ls >> 4) << 6);
      b.scales[j] |= uint8_t((lm >> 4) << 6);
    }
  }
  b.d = f32_to_f16(max_scale / 63.f);
  b.dmin = f32_to_f16(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, b.scales, sc, m);
    eff_d[j] = f16_to_f32(b.d) * float(sc);
    eff_m[j] = f16_to_f32(b.dmin) * float(m);
  }
}

}  // namespace

void pack_q4_k_scales(BlockQ4_K& b, const float* scales, const float* mins, float* eff_d, float* eff_m) {
  pack_scales_k4(b, scales, mins, eff_d, eff_m);
}

namespace {

// Levels L[256] in [0, nmax] of one q4_k/q5_k super-block, fitted then re-rounded against the
// stored (quantized) scales.
template <typename Block>
void quantize_k4_levels(const float* x, Block& b, int nmax, float rmin, int nstep, uint8_t* L) {
  float scales[8], mins[8], weights[kQK];
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + kQK * j;
    float sum_x2 = 0.f;
    for (int l = 0; l < kQK; ++l) sum_x2 += xs[l] * xs[l];
    const float rms = std::sqrt(sum_x2 / kQK);
    for (int l = 0; l < kQK; ++l) weights[l] = rms + std::fabs(xs[l]);  // favour large values
    scales[j] = fit_scale_min(xs, weights, kQK, nmax, L + kQK * j, mins[j], rmin, 0.1f, nstep);
  }
  float d[8], m[8];
  pack_scales_k4(b, scales, mins, d, m);
  for (int j = 0; j < 8; ++j) {
    if (d[j] == 0.f) continue;
    for (int l = 0; l < kQK; ++l)
      L[kQK * j + l] = uint8_t(clampi(nearest((x[kQK * j + l] + m[j]) / d[j]), 0, nmax));
  }
}

}  // namespace

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const BlockQ4_K& b = blocks[i];
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    float* y = dst + i * kQKK;
    for (int c = 0; c < 4; ++c) {
      uint8_t sc, m;
      scale_min_k4(2 * c, b.scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(2 * c + 1, b.scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      const uint8_t* q = b.qs + 32 * c;
      for (int l = 0; l < 32; ++l) y[64 * c + l] = d1 * float(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) y[64 * c + 32 + l] = d2 * float(q[l] >> 4) - m2;
    }
  }
}

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const BlockQ5_K& b = blocks[i];
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    float* y = dst + i * kQKK;
    for (int c = 0; c < 4; ++c) {
      uint8_t sc, m;
      scale_min_k4(2 * c, b.scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(2 * c + 1, b.scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      const uint8_t* q = b.qs + 32 * c;
      const uint8_t bit1 = uint8_t(1u << (2 * c)), bit2 = uint8_t(2u << (2 * c));
      for (int l = 0; l < 32; ++l)
        y[64 * c + l] = d1 * float((q[l] & 0xF) + ((b.qh[l] & bit1) ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l)
        y[64 * c + 32 + l] = d2 * float((q[l] >> 4) + ((b.qh[l] & bit2) ? 16 : 0)) - m2;
    }
  }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const BlockQ6_K& b = blocks[i];
    const float d = f16_to_f32(b.d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b.ql + 64 * h;
      const uint8_t* qh = b.qh + 32 * h;
      const int8_t* sc = b.scales + 8 * h;
      float* y = dst + i * kQKK + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[is]) * float(q1);
        y[l + 32] = d * float(sc[is + 2]) * float(q2);
        y[l + 64] = d * float(sc[is + 4]) * float(q3);
        y[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
    }
  }
}

void quantize_q4_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ4_K*>(dst);
  uint8_t L[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    BlockQ4_K& b = blocks[i];
    quantize_k4_levels(src + i * kQKK, b, 15, -1.f, 20, L);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = uint8_t(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

void quantize_q5_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ5_K*>(dst);
  uint8_t L[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    BlockQ5_K& b = blocks[i];
    quantize_k4_levels(src + i * kQKK, b, 31, -0.5f, 15, L);
    std::memset(b.qh, 0, sizeof(b.qh));
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        b.qs[32 * c + l] = uint8_t((lo & 0xF) | ((hi & 0xF) << 4));
        b.qh[l] |= uint8_t(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
  }
}

void quantize_q6_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float* x = src + i * kQKK;
    BlockQ6_K& b = blocks[i];
    std::memset(&b, 0, sizeof(b));
    float scales[16], max_scale = 0.f, max_abs = 0.f;
    for (int g = 0; g < 16; ++g) {
      scales[g] = fit_symmetric_scale(x + 16 * g, 16, 32);
      if (std::fabs(scales[g]) > max_abs) {
        max_abs = std::fabs(scales[g]);
        max_scale = scales[g];
      }
    }
    uint8_t L[kQKK];
    std::fill(L, L + kQKK, uint8_t(32));
    if (max_abs >= 1e-15f) {
      // The largest scale maps to -128 so its sign is free; the others round onto that grid.
      const float iscale = -128.f / max_scale;
      b.d = f32_to_f16(1.f / iscale);
      for (int g = 0; g < 16; ++g) b.scales[g] = int8_t(std::min(127, nearest(iscale * scales[g])));
      for (int g = 0; g < 16; ++g) {
        const float d = f16_to_f32(b.d) * float(b.scales[g]);
        if (d == 0.f) continue;
        for (int l = 0; l < 16; ++l) L[16 * g + l] = uint8_t(clampi(nearest(x[16 * g + l] / d), -32, 31) + 32);
      }
    }
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 32; ++l) {
        const uint8_t* q = L + 128 * h + l;
        b.ql[64 * h + l] = uint8_t((q[0] & 0xF) | ((q[64] & 0xF) << 4));
        b.ql[64 * h + 32 + l] = uint8_t((q[32] & 0xF) | ((q[96] & 0xF) << 4));
        b.qh[32 * h + l] = uint8_t((q[0] >> 4) | ((q[32] >> 4) << 2) | ((q[64] >> 4) << 4) | ((q[96] >> 4) << 6));
      }
  }
}

}  // namespace llmr::quant
