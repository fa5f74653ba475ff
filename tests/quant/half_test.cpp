// f16 / bf16 conversions: exhaustive against the processor's F16C instructions where available,
// plus the edge cases by hand: subnormals, infinities, NaN, overflow and round-to-nearest-even ties.
#include <gtest/gtest.h>

#include <cmath>
#include <immintrin.h>

#include "backend/cpu/cpu_features.h"
#include "tensor/half.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

__attribute__((target("f16c"))) float hw_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) uint16_t hw_f32_to_f16(float f) {
  return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

bool same_bits(float a, float b) { return f32_to_bits(a) == f32_to_bits(b); }

TEST(Half, EveryF16MatchesHardware) {
  ASSERT_TRUE(__builtin_cpu_supports("f16c")) << "this test needs F16C as its oracle";
  for (uint32_t h = 0; h < 65536; ++h) {
    const float ours = f16_to_f32(uint16_t(h)), hw = hw_f16_to_f32(uint16_t(h));
    if (std::isnan(hw)) ASSERT_TRUE(std::isnan(ours)) << h;
    else ASSERT_TRUE(same_bits(ours, hw)) << "half 0x" << std::hex << h;
    // and back: every non-NaN half survives the round trip
    if (!std::isnan(hw)) ASSERT_EQ(f32_to_f16(ours), h) << "half 0x" << std::hex << h;
  }
}

TEST(Half, RandomF32RoundsLikeHardware) {
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 1 << 20; ++i) {
    const float f = bits_to_f32(bits(testing::rng()));
    const uint16_t ours = f32_to_f16(f), hw = hw_f32_to_f16(f);
    if (std::isnan(f)) ASSERT_TRUE((ours & 0x7c00) == 0x7c00 && (ours & 0x3ff)) << f;
    else ASSERT_EQ(ours, hw) << "f32 bits 0x" << std::hex << f32_to_bits(f);
  }
}

TEST(Half, EdgeCasesByHand) {
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.f, -24));      // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.f, -24));   // largest subnormal
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.f, -14));      // smallest normal
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.f);
  EXPECT_EQ(f16_to_f32(0x7c00), INFINITY);
  EXPECT_EQ(f16_to_f32(0xfc00), -INFINITY);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
  EXPECT_EQ(f32_to_f16(1.f + std::ldexp(1.f, -11)), 0x3c00);      // tie -> even (down)
  EXPECT_EQ(f32_to_f16(1.f + 3 * std::ldexp(1.f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(f32_to_f16(65519.f), 0x7bff);                          // below the tie: max finite
  EXPECT_EQ(f32_to_f16(65520.f), 0x7c00);                          // tie with 65536 -> inf
  EXPECT_EQ(f32_to_f16(std::ldexp(1.f, -25)), 0x0000);             // tie -> even (zero)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.f, -25)), 0x0002);             // 1.5 ulp tie -> even 2
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-0.f), 0x8000);
}

TEST(BFloat16, EdgeCasesByHand) {
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f808000u)), 0x3f80);  // tie -> even (down)
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f818000u)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x7f7fffffu)), 0x7f80);  // max float rounds to inf
  EXPECT_EQ(f32_to_bf16(INFINITY), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-INFINITY), 0xff80);
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x00010000u)), 0x0001);  // subnormals keep their bits
  const uint16_t nan = f32_to_bf16(bits_to_f32(0x7f800001u));  // NaN with payload only in low bits
  EXPECT_TRUE(std::isnan(bf16_to_f32(nan))) << std::hex << nan;
  EXPECT_EQ(bf16_to_f32(0x4049), bits_to_f32(0x40490000u));
}

TEST(BFloat16, EveryBf16RoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(uint16_t(h));
    if (std::isnan(f)) ASSERT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
    else ASSERT_EQ(f32_to_bf16(f), h);
  }
}

TEST(HalfRows, QuantizeRowUsesTheseConversions) {
  auto x = testing::random_floats(64, -70000.f, 70000.f);
  x[0] = std::ldexp(1.f, -25);
  uint16_t h[64], b[64];
  quantize_row(DType::F16, x.data(), h, 64);
  quantize_row(DType::BF16, x.data(), b, 64);
  float back[64];
  dequantize_row(DType::F16, h, back, 64);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(h[i], f32_to_f16(x[i]));
    EXPECT_TRUE(same_bits(back[i], f16_to_f32(h[i])));
  }
  dequantize_row(DType::BF16, b, back, 64);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(back[i], bf16_to_f32(f32_to_bf16(x[i])));
}

}  // namespace
}  // namespace llmr
