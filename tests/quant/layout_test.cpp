// Hand-built blocks: bytes are written at the offsets llama.cpp's ggml-common.h documents, from
// per-element quantized values, and dequantize_row must return the layout formula's values.
// Nothing here uses the implementation's block structs or helpers.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "tensor/half.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

using Bytes = std::vector<uint8_t>;

int rand_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(testing::rng()); }

// A random half-precision scale of moderate size (normal, either sign unless positive).
uint16_t rand_half(bool positive = false) {
  float v = std::uniform_real_distribution<float>(0.01f, 2.f)(testing::rng());
  if (!positive && rand_int(0, 1)) v = -v;
  return f32_to_f16(v);
}

void put_half(Bytes& b, size_t off, uint16_t h) {
  b[off] = uint8_t(h & 0xFF);  // little-endian, as GGUF files are
  b[off + 1] = uint8_t(h >> 8);
}

std::vector<float> dequant(DType t, const Bytes& b, int n) {
  std::vector<float> y(n);
  dequantize_row(t, b.data(), y.data(), n);
  return y;
}

TEST(Layout, Q8_0) {
  const int nb = 3;
  Bytes b(34 * nb);
  std::vector<float> want(32 * nb);
  for (int i = 0; i < nb; ++i) {
    const uint16_t d = rand_half();
    put_half(b, 34 * i, d);
    for (int j = 0; j < 32; ++j) {
      const int q = rand_int(-128, 127);
      b[34 * i + 2 + j] = uint8_t(int8_t(q));
      want[32 * i + j] = float(q) * f16_to_f32(d);
    }
  }
  EXPECT_EQ(dequant(DType::Q8_0, b, 32 * nb), want);
}

TEST(Layout, Q4_0) {
  const int nb = 3;
  Bytes b(18 * nb, 0);
  std::vector<float> want(32 * nb);
  for (int i = 0; i < nb; ++i) {
    const uint16_t d = rand_half();
    put_half(b, 18 * i, d);
    for (int e = 0; e < 32; ++e) {  // element e < 16: low nibble of byte e; else high of e-16
      const int q = rand_int(0, 15);
      b[18 * i + 2 + e % 16] |= uint8_t(e < 16 ? q : q << 4);
      want[32 * i + e] = float(q - 8) * f16_to_f32(d);
    }
  }
  EXPECT_EQ(dequant(DType::Q4_0, b, 32 * nb), want);
}

TEST(Layout, Q4_1) {
  const int nb = 3;
  Bytes b(20 * nb, 0);
  std::vector<float> want(32 * nb);
  for (int i = 0; i < nb; ++i) {
    const uint16_t d = rand_half(true), m = rand_half();
    put_half(b, 20 * i, d);
    put_half(b, 20 * i + 2, m);
    for (int e = 0; e < 32; ++e) {
      const int q = rand_int(0, 15);
      b[20 * i + 4 + e % 16] |= uint8_t(e < 16 ? q : q << 4);
      want[32 * i + e] = float(q) * f16_to_f32(d) + f16_to_f32(m);
    }
  }
  EXPECT_EQ(dequant(DType::Q4_1, b, 32 * nb), want);
}

// The 12 scale bytes of q4_k/q5_k: sub-blocks 0-3 keep scale and min in the low 6 bits of bytes
// 0-3 and 4-7; sub-blocks 4-7 keep their low 4 bits in the nibbles of bytes 8-11 and their top
// 2 bits in the top 2 bits of bytes 0-3 (scale) and 4-7 (min).
void pack_k4_scales(uint8_t* s, const int* scale, const int* min) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t(scale[j] | ((scale[j + 4] >> 4) << 6));
    s[j + 4] = uint8_t(min[j] | ((min[j + 4] >> 4) << 6));
    s[j + 8] = uint8_t((scale[j + 4] & 0xF) | ((min[j + 4] & 0xF) << 4));
  }
}

// q4_k and q5_k share everything but the fifth bit: element e of a super-block is in chunk
// c = e / 64 of 32 bytes; the first 32 elements of a chunk take the low nibbles, the next 32 the
// high ones; with five bits, bit (2c + (e % 64 >= 32)) of qh[e % 32] is worth 16.
void k4_case(bool five_bits) {
  const DType t = five_bits ? DType::Q5_K : DType::Q4_K;
  const size_t bytes = five_bits ? 176 : 144, qs_off = five_bits ? 48 : 16;
  const int nb = 2;
  Bytes b(bytes * nb, 0);
  std::vector<float> want(256 * nb);
  for (int i = 0; i < nb; ++i) {
    uint8_t* blk = b.data() + bytes * i;
    const uint16_t d = rand_half(true), dmin = rand_half(true);
    put_half(b, bytes * i, d);
    put_half(b, bytes * i + 2, dmin);
    int scale[8], min[8];
    for (int j = 0; j < 8; ++j) {
      scale[j] = rand_int(0, 63);
      min[j] = rand_int(0, 63);
    }
    scale[rand_int(4, 7)] = 63;  // exercise the top bits of the high sub-blocks
    min[rand_int(4, 7)] = 48;
    pack_k4_scales(blk + 4, scale, min);
    for (int e = 0; e < 256; ++e) {
      const int c = e / 64, upper = (e % 64) >= 32, l = e % 32;
      const int q = rand_int(0, five_bits ? 31 : 15);
      blk[qs_off + 32 * c + l] |= uint8_t(upper ? (q & 0xF) << 4 : (q & 0xF));
      if (five_bits && q >= 16) blk[16 + l] |= uint8_t(1 << (2 * c + upper));
      const int j = e / 32;
      const float dj = f16_to_f32(d) * float(scale[j]), mj = f16_to_f32(dmin) * float(min[j]);
      want[256 * i + e] = dj * float(q) - mj;
    }
  }
  EXPECT_EQ(dequant(t, b, 256 * nb), want);
}

TEST(Layout, Q4_K) { k4_case(false); }
TEST(Layout, Q5_K) { k4_case(true); }

// q6_k: ql[128] at 0, qh[64] at 128, int8 scales[16] at 192, half d at 208. Element e: half
// h = e / 128, r = e % 128, quarter k = r / 32, l = r % 32; low 4 bits in ql[64h + l + 32(k % 2)]
// (low nibble for k < 2, high for k >= 2), high 2 bits at bits 2k..2k+1 of qh[32h + l];
// value = d * scales[e / 16] * (q - 32).
TEST(Layout, Q6_K) {
  const int nb = 2;
  Bytes b(210 * nb, 0);
  std::vector<float> want(256 * nb);
  for (int i = 0; i < nb; ++i) {
    uint8_t* blk = b.data() + 210 * i;
    const uint16_t d = rand_half();
    put_half(b, 210 * i + 208, d);
    int scale[16];
    for (int g = 0; g < 16; ++g) {
      scale[g] = rand_int(-128, 127);
      blk[192 + g] = uint8_t(int8_t(scale[g]));
    }
    for (int e = 0; e < 256; ++e) {
      const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
      const int q = rand_int(0, 63);
      blk[64 * h + l + 32 * (k % 2)] |= uint8_t(k < 2 ? (q & 0xF) : (q & 0xF) << 4);
      blk[128 + 32 * h + l] |= uint8_t((q >> 4) << (2 * k));
      want[256 * i + e] = f16_to_f32(d) * float(scale[e / 16]) * float(q - 32);
    }
  }
  EXPECT_EQ(dequant(DType::Q6_K, b, 256 * nb), want);
}

// llama.cpp's reference quantizers, checked on blocks whose result is known by hand.
TEST(GgmlCompatibleQuantizer, Q8_0RoundsHalfAwayFromZero) {
  std::vector<float> x(32, 0.f);
  x[0] = 127.f;  // d = 127 / 127 = 1 exactly
  x[1] = 2.5f;   // -> 3 (round half away), not 2 (half even)
  x[2] = -2.5f;  // -> -3
  x[3] = 0.49f;
  x[4] = -126.6f;
  Bytes b(34);
  quantize_row(DType::Q8_0, x.data(), b.data(), 32);
  EXPECT_EQ(b[0] | (b[1] << 8), 0x3C00);  // half 1.0
  EXPECT_EQ(int8_t(b[2]), 127);
  EXPECT_EQ(int8_t(b[3]), 3);
  EXPECT_EQ(int8_t(b[4]), -3);
  EXPECT_EQ(int8_t(b[5]), 0);
  EXPECT_EQ(int8_t(b[6]), -127);
}

TEST(GgmlCompatibleQuantizer, Q4_0MapsLargestMagnitudeToMinus8) {
  // Largest magnitude -4 -> d = -4 / -8 = 0.5; q = trunc(x / d + 8.5): ties round up.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = 0.5f * float(j % 16 - 8);  // exact grid points
  x[17] = 0.25f;   // x/d = 0.5  -> trunc(9.0) = 9
  x[18] = -0.25f;  // x/d = -0.5 -> trunc(8.0) = 8
  x[19] = 3.9f;    // x/d = 7.8  -> 16.3 -> clamped to 15
  Bytes b(18);
  quantize_row(DType::Q4_0, x.data(), b.data(), 32);
  EXPECT_EQ(b[0] | (b[1] << 8), 0x3800);  // half 0.5
  for (int e = 0; e < 32; ++e) {
    const int q = e < 16 ? (b[2 + e] & 0xF) : (b[2 + e - 16] >> 4);
    const int want = e == 17 ? 9 : e == 18 ? 8 : e == 19 ? 15 : e % 16;
    EXPECT_EQ(q, want) << "element " << e;
  }
}

TEST(GgmlCompatibleQuantizer, Q4_1UsesMinAndRange) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = 1.f + 0.25f * float((j * 7) % 16);  // min 1, max 4.75
  Bytes b(20);
  quantize_row(DType::Q4_1, x.data(), b.data(), 32);
  EXPECT_EQ(f16_to_f32(uint16_t(b[0] | (b[1] << 8))), 0.25f);
  EXPECT_EQ(f16_to_f32(uint16_t(b[2] | (b[3] << 8))), 1.f);
  for (int e = 0; e < 32; ++e) {
    const int q = e < 16 ? (b[4 + e] & 0xF) : (b[4 + e - 16] >> 4);
    EXPECT_EQ(q, (e * 7) % 16) << "element " << e;
  }
}

}  // namespace
}  // namespace llmr
