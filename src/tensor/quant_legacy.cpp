// q8_0, q4_0, q4_1: one scale (and min) per 32 elements. The quantizers round exactly as
// llama.cpp's reference quantizers do, so files we write match theirs byte for byte.
#include <cmath>
#include <cfloat>

#include "tensor/half.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_impl.h"

namespace llmr::quant {
namespace {

// Truncates t to an integer in [0, hi]; NaN gives 0 (a float->int cast of NaN is undefined).
inline uint8_t clamp_trunc(float t, int hi) {
  if (!(t > 0.f)) return 0;
  if (t >= float(hi)) return uint8_t(hi);
  return uint8_t(int(t));
}

}  // namespace

void dequantize_q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = float(b[i].qs[j]) * d;
  }
}

void dequantize_q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[i * kQK + j] = float((b[i].qs[j] & 0xF) - 8) * d;
      dst[i * kQK + j + kQK / 2] = float((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[i * kQK + j] = float(b[i].qs[j] & 0xF) * d + m;
      dst[i * kQK + j + kQK / 2] = float(b[i].qs[j] >> 4) * d + m;
    }
  }
}

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK; ++j) {
      const float r = std::round(x[j] * id);  // half away from zero, as roundf
      b[i].qs[j] = r >= 127.f ? 127 : r <= -127.f ? -127 : (r == r ? int8_t(r) : 0);
    }
  }
}

void quantize_q4_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    // The value of largest magnitude maps to -8 exactly; its sign picks the direction.
    float amax = 0.f, max = 0.f;
    for (int j = 0; j < kQK; ++j)
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = clamp_trunc(x[j] * id + 8.5f, 15);
      const uint8_t hi = clamp_trunc(x[j + kQK / 2] * id + 8.5f, 15);
      b[i].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

void quantize_q4_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    b[i].d = f32_to_f16(d);
    b[i].m = f32_to_f16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = clamp_trunc((x[j] - min) * id + 0.5f, 15);
      const uint8_t hi = clamp_trunc((x[j + kQK / 2] - min) * id + 0.5f, 15);
      b[i].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

}  // namespace llmr::quant
