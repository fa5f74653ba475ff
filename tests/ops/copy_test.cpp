// copy: every conversion among f32, f16 and bf16, bit-exact against the reference (both round to
// nearest even), over odd widths, strided rows and special values; shape and type rejections.
#include <cmath>
#include <limits>

#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class CopyBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16};

// Equal bits, except that any NaN matches any NaN.
void expect_same_values(const Tensor& a, const Tensor& b, const std::string& what) {
  for (int64_t r = 0; r < b.rows(); ++r)
    for (int64_t c = 0; c < b.cols(); ++c) {
      const float x = element(a, r, c), y = element(b, r, c);
      if (std::isnan(y)) {
        ASSERT_TRUE(std::isnan(x)) << what << " at [" << r << ", " << c << "]";
        continue;
      }
      ASSERT_EQ(f32_to_bits(x), f32_to_bits(y)) << what << " at [" << r << ", " << c << "]: " << x << " vs " << y;
    }
}

TEST_P(CopyBattery, EveryConversionMatchesTheReferenceBitForBit) {
  for (DType from : kTypes)
    for (DType to : kTypes)
      for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 15}, {7, 33}, {64, 128}, {2, 1001}}) {
        Strided src(from, rows, cols, 5), dst(to, rows, cols, 3), expect(to, rows, cols);
        // Magnitudes from subnormal to beyond f16's range, so rounding, underflow and overflow all occur.
        std::uniform_real_distribution<float> expo(-30.f, 20.f), sign(-1.f, 1.f);
        fill(src.t(), [&](int64_t) { return std::copysign(std::exp2(expo(rng())), sign(rng())); });
        reference().copy(src.t(), expect.t());
        impl().copy(src.t(), dst.t());
        const std::string what = GetParam() + " " + name(from) + "->" + name(to) + " [" + std::to_string(rows) +
                                 ", " + std::to_string(cols) + "]";
        expect_same_values(dst.t(), expect.t(), what);
        EXPECT_TRUE(dst.padding_intact()) << what << " wrote between rows";
        EXPECT_TRUE(src.padding_intact()) << what << " wrote into src";
      }
}

TEST_P(CopyBattery, SpecialValuesSurvive) {
  const float specials[] = {0.f, -0.f, INFINITY, -INFINITY, NAN, 65504.f, 65520.f, -65519.f, 6e-8f, 3e-8f,
                            1e-40f, 3.3895314e38f, std::numeric_limits<float>::max(), 1.f / 3.f, -2.5f,
                            // ties, which round to even: bf16 at 2^-8 steps of 1, f16 at 2^-10
                            1.00390625f, 1.01171875f, -1.00390625f, 1.00048828125f, 1.00146484375f, 2.9802322e-8f};
  const int64_t n = int64_t(std::size(specials)) * 3;  // repeated so both vector body and tail see them
  for (DType to : kTypes) {
    Strided src(DType::F32, 1, n), dst(to, 1, n), expect(to, 1, n);
    fill(src.t(), [&](int64_t i) { return specials[i % std::size(specials)]; });
    reference().copy(src.t(), expect.t());
    impl().copy(src.t(), dst.t());
    expect_same_values(dst.t(), expect.t(), GetParam() + " specials f32->" + name(to));
  }
}

TEST_P(CopyBattery, RejectsMismatchedShapesAndTypes) {
  Strided a(DType::F32, 2, 8), b(DType::F16, 2, 9), c(DType::F16, 3, 8), q(DType::I32, 2, 8);
  expect_error([&] { impl().copy(a.t(), b.t()); }, "copy: shapes differ: src f32[2, 8], dst f16[2, 9]");
  expect_error([&] { impl().copy(a.t(), c.t()); }, "copy: shapes differ");
  expect_error([&] { impl().copy(a.t(), q.t()); }, "copy: dst i32[2, 8] must be");
}

INSTANTIATE_TEST_SUITE_P(Impls, CopyBattery, ::testing::ValuesIn(op_impl_names()), param_name);

// The oracle against the conversions' definitions: exact in f32, round trips f32->f16->f32 of
// values already in f16 are exact, and bf16 keeps the top 16 bits after rounding.
TEST(CopyReference, RoundTripsAreExact) {
  Strided a(DType::F16, 4, 100), b(DType::F32, 4, 100), c(DType::F16, 4, 100);
  a.randomize(-1000.f, 1000.f);
  reference().copy(a.t(), b.t());
  reference().copy(b.t(), c.t());
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t i = 0; i < 100; ++i) ASSERT_EQ(a.t().row<uint16_t>(r)[i], c.t().row<uint16_t>(r)[i]);
  Strided f(DType::F32, 1, 3), h(DType::BF16, 1, 3);
  fill(f.t(), [](int64_t i) { return i == 0 ? 1.00390625f : i == 1 ? 1.01171875f : -3.0f; });  // ties to even
  reference().copy(f.t(), h.t());
  EXPECT_EQ(element(h.t(), 0, 0), 1.0f);
  EXPECT_EQ(element(h.t(), 0, 1), 1.015625f);
  EXPECT_EQ(element(h.t(), 0, 2), -3.0f);
}

}  // namespace
}  // namespace llmr::testing
