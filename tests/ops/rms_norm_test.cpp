// RMSNorm and the fused RMSNorm+residual: every implementation against the reference, plus
// extreme magnitudes against a double-precision calculation made here, strided rows, rejections.
#include <cmath>
#include <vector>

#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class RmsNormBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

struct Case {
  int64_t rows, cols;
};
// Hidden sizes that are and are not multiples of 8/16 lanes, 1 to 512 rows.
const Case kCases[] = {{1, 1}, {3, 7}, {512, 33}, {17, 64}, {2, 100}, {9, 1000}, {3, 4096}, {2, 16384}, {1, 4097}};
const DType kTypes[] = {DType::F32, DType::F16, DType::BF16};

// Tolerances relative to the reference's stored output: two roundings to the type can differ by an ulp.
double rtol_of(DType t) { return t == DType::F32 ? 5e-6 : t == DType::F16 ? 2e-3 : 1.6e-2; }
double atol_of(DType t) { return t == DType::F16 ? 1e-7 : 1e-30; }

std::string label(DType t, const Case& c) {
  return std::string(name(t)) + "[" + std::to_string(c.rows) + ", " + std::to_string(c.cols) + "]";
}

Strided random_weight(int64_t n, float lo = -1.5f, float hi = 1.5f) {
  Strided w(DType::F32, 1, n);
  w.randomize(lo, hi);
  return w;
}

TEST_P(RmsNormBattery, MatchesReferenceOnEveryTypeAndShape) {
  for (DType t : kTypes)
    for (const Case& c : kCases) {
      Strided x(t, c.rows, c.cols), y(t, c.rows, c.cols), expect(t, c.rows, c.cols);
      x.randomize(-2.f, 2.f);
      Strided w = random_weight(c.cols);
      const float eps = c.cols % 2 ? 1e-6f : 1e-5f;
      reference().rms_norm(x.t(), Tensor(w.t()).as_matrix().slice_rows(0, 1), eps, expect.t());
      impl().rms_norm(x.t(), w.t(), eps, y.t());
      expect_close(y.t(), expect.t(), atol_of(t), rtol_of(t), GetParam() + " rms_norm " + label(t, c));
    }
}

TEST_P(RmsNormBattery, StridedRowsLeaveThePaddingUntouched) {
  for (DType t : kTypes) {
    const Case c{37, 1000};
    Strided x(t, c.rows, c.cols, 24), y(t, c.rows, c.cols, 7), expect(t, c.rows, c.cols);
    x.randomize();
    Strided w = random_weight(c.cols);
    reference().rms_norm(x.t(), w.t(), 1e-6f, expect.t());
    impl().rms_norm(x.t(), w.t(), 1e-6f, y.t());
    expect_close(y.t(), expect.t(), atol_of(t), rtol_of(t), GetParam() + " strided " + label(t, c));
    EXPECT_TRUE(y.padding_intact()) << GetParam() << " wrote between the rows of y (" << name(t) << ")";
    EXPECT_TRUE(x.padding_intact()) << GetParam() << " wrote into x (" << name(t) << ")";
  }
}

TEST_P(RmsNormBattery, ZeroWeightsGiveExactZeros) {
  for (DType t : kTypes) {
    Strided x(t, 4, 77), y(t, 4, 77), w(DType::F32, 1, 77);
    x.randomize();
    fill(w.t(), [](int64_t) { return 0.f; });
    impl().rms_norm(x.t(), w.t(), 1e-5f, y.t());
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 77; ++c) ASSERT_EQ(element(y.t(), r, c), 0.f) << GetParam() << " " << name(t);
  }
}

// y computed here in double from the values as stored: the independent check for extreme inputs.
void expect_matches_double(Backend& b, DType t, int64_t n, float magnitude, float eps, const std::string& what) {
  Strided x(t, 2, n), y(t, 2, n);
  x.randomize(-1.f, 1.f);
  fill(x.t(), [&](int64_t i) { return element(x.t(), i / n, i % n) * magnitude; });
  Strided w = random_weight(n, 0.5f, 1.5f);
  b.rms_norm(x.t(), w.t(), eps, y.t());
  for (int64_t r = 0; r < 2; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < n; ++c) ss += double(element(x.t(), r, c)) * element(x.t(), r, c);
    const double inv = 1.0 / std::sqrt(ss / double(n) + eps);
    for (int64_t c = 0; c < n; ++c) {
      const double want = element(x.t(), r, c) * inv * element(w.t(), 0, c);
      const float got = element(y.t(), r, c);
      ASSERT_TRUE(std::isfinite(got)) << what << " gave " << got << " at [" << r << ", " << c << "]";
      ASSERT_NEAR(got, want, 1e-6 + rtol_of(t) * std::fabs(want)) << what << " at [" << r << ", " << c << "]";
    }
  }
}

TEST_P(RmsNormBattery, HugeValuesDoNotOverflow) {
  for (int64_t n : {7, 1000, 4096, 16384}) {
    const std::string at = GetParam() + " n=" + std::to_string(n);
    expect_matches_double(impl(), DType::F32, n, 1e18f, 1e-5f, at + " f32 1e18");
    expect_matches_double(impl(), DType::F32, n, 3e38f, 1e-5f, at + " f32 3e38");
    expect_matches_double(impl(), DType::F16, n, 6e4f, 1e-5f, at + " f16 6e4");
    expect_matches_double(impl(), DType::BF16, n, 1e30f, 1e-5f, at + " bf16 1e30");
  }
}

TEST_P(RmsNormBattery, TinyValuesDoNotUnderflow) {
  for (int64_t n : {7, 1000, 4096}) {
    const std::string at = GetParam() + " n=" + std::to_string(n);
    // eps = 0 leaves nothing to hide a sum of squares lost to underflow.
    expect_matches_double(impl(), DType::F32, n, 1e-20f, 0.f, at + " f32 1e-20 eps 0");
    expect_matches_double(impl(), DType::F32, n, 1e-20f, 1e-6f, at + " f32 1e-20 eps 1e-6");
    expect_matches_double(impl(), DType::BF16, n, 1e-30f, 0.f, at + " bf16 1e-30 eps 0");
    expect_matches_double(impl(), DType::F16, n, 1e-3f, 0.f, at + " f16 1e-3 eps 0");
  }
}

TEST_P(RmsNormBattery, ResidualMatchesReferenceAndStoresTheSum) {
  for (DType t : kTypes)
    for (const Case& c : kCases) {
      Strided x(t, c.rows, c.cols, 3), r(t, c.rows, c.cols), sum(t, c.rows, c.cols, 5), y(t, c.rows, c.cols);
      Strided expect_sum(t, c.rows, c.cols), expect_y(t, c.rows, c.cols);
      x.randomize(-2.f, 2.f);
      r.randomize(-2.f, 2.f);
      Strided w = random_weight(c.cols);
      reference().rms_norm_residual(x.t(), r.t(), w.t(), 1e-6f, expect_sum.t(), expect_y.t());
      impl().rms_norm_residual(x.t(), r.t(), w.t(), 1e-6f, sum.t(), y.t());
      // The sum is one float add rounded to the type: every implementation must agree bit for bit.
      expect_close(sum.t(), expect_sum.t(), 0, 0, GetParam() + " residual sum " + label(t, c));
      expect_close(y.t(), expect_y.t(), atol_of(t), rtol_of(t), GetParam() + " residual y " + label(t, c));
      EXPECT_TRUE(sum.padding_intact()) << GetParam() << " wrote between the rows of sum";
      // The fused op equals the unfused rms_norm of its own stored sum.
      Strided y2(t, c.rows, c.cols);
      impl().rms_norm(sum.t(), w.t(), 1e-6f, y2.t());
      expect_close(y.t(), y2.t(), atol_of(t), rtol_of(t), GetParam() + " fused vs unfused " + label(t, c));
    }
}

TEST_P(RmsNormBattery, ResidualMaySumInPlace) {
  const int64_t rows = 5, n = 300;
  Strided x(DType::F32, rows, n), r(DType::F32, rows, n), y(DType::F32, rows, n);
  Strided expect_sum(DType::F32, rows, n), expect_y(DType::F32, rows, n);
  x.randomize();
  r.randomize();
  Strided w = random_weight(n);
  reference().rms_norm_residual(x.t(), r.t(), w.t(), 1e-6f, expect_sum.t(), expect_y.t());
  impl().rms_norm_residual(x.t(), r.t(), w.t(), 1e-6f, r.t(), y.t());  // residual stream updated in place
  expect_close(r.t(), expect_sum.t(), 0, 0, GetParam() + " in-place sum");
  expect_close(y.t(), expect_y.t(), 1e-30, rtol_of(DType::F32), GetParam() + " in-place y");
}

TEST_P(RmsNormBattery, HugeResidualSumsDoNotOverflowTheNorm) {
  const int64_t n = 4096;
  Strided x(DType::F32, 1, n), r(DType::F32, 1, n), sum(DType::F32, 1, n), y(DType::F32, 1, n);
  Strided expect_sum(DType::F32, 1, n), expect_y(DType::F32, 1, n);
  x.randomize(-1e18f, 1e18f);
  r.randomize(-1e18f, 1e18f);
  Strided w = random_weight(n);
  reference().rms_norm_residual(x.t(), r.t(), w.t(), 1e-5f, expect_sum.t(), expect_y.t());
  impl().rms_norm_residual(x.t(), r.t(), w.t(), 1e-5f, sum.t(), y.t());
  expect_close(y.t(), expect_y.t(), 1e-30, rtol_of(DType::F32), GetParam() + " residual 1e18");
}

TEST_P(RmsNormBattery, RejectsWrongShapesAndTypes) {
  Strided x(DType::F32, 2, 8), y(DType::F32, 2, 8), y16(DType::F16, 2, 8), y9(DType::F32, 2, 9), y3(DType::F32, 3, 8);
  Strided w(DType::F32, 1, 8), w7(DType::F32, 1, 7), w16(DType::F16, 1, 8), xi(DType::I32, 2, 8), empty(DType::F32, 2, 0);
  x.randomize();
  w.randomize();
  Backend& b = impl();
  expect_error([&] { b.rms_norm(x.t(), w.t(), 1e-5f, y16.t()); }, "rms_norm: y must have x's type");
  expect_error([&] { b.rms_norm(x.t(), w.t(), 1e-5f, y9.t()); }, "rms_norm: shapes differ: x f32[2, 8], y f32[2, 9]");
  expect_error([&] { b.rms_norm(x.t(), w.t(), 1e-5f, y3.t()); }, "rms_norm: shapes differ");
  expect_error([&] { b.rms_norm(x.t(), w7.t(), 1e-5f, y.t()); }, "rms_norm: w must be [8]");
  expect_error([&] { b.rms_norm(x.t(), w16.t(), 1e-5f, y.t()); }, "rms_norm: w f16[1, 8] must be f32");
  expect_error([&] { b.rms_norm(xi.t(), w.t(), 1e-5f, y.t()); }, "rms_norm: x i32[2, 8] must be f32 or f16 or bf16");
  expect_error([&] { b.rms_norm(x.t(), w.t(), -1.f, y.t()); }, "rms_norm: eps");
  expect_error([&] { b.rms_norm(x.t(), w.t(), NAN, y.t()); }, "rms_norm: eps");
  expect_error([&] { b.rms_norm(empty.t(), w.t(), 1e-5f, empty.t()); }, "rms_norm:");
  expect_error([&] { b.rms_norm_residual(x.t(), y16.t(), w.t(), 1e-5f, y.t(), y.t()); }, "rms_norm_residual: residual must have x's type");
  expect_error([&] { b.rms_norm_residual(x.t(), y.t(), w.t(), 1e-5f, y9.t(), y.t()); }, "rms_norm_residual: shapes differ");
  expect_error([&] { b.rms_norm_residual(x.t(), y.t(), w7.t(), 1e-5f, y.t(), y.t()); }, "rms_norm_residual: w must be [8]");
}

INSTANTIATE_TEST_SUITE_P(Impls, RmsNormBattery, ::testing::ValuesIn(op_impl_names()), param_name);

// The oracle against a property of its own: with w = 1 and eps = 0 each output row has mean square 1.
TEST(RmsNormReference, OutputRowsHaveUnitMeanSquare) {
  Strided x(DType::F32, 6, 513), y(DType::F32, 6, 513), w(DType::F32, 1, 513);
  x.randomize(-3.f, 5.f);
  fill(w.t(), [](int64_t) { return 1.f; });
  reference().rms_norm(x.t(), w.t(), 0.f, y.t());
  for (int64_t r = 0; r < 6; ++r) {
    double ms = 0;
    for (int64_t c = 0; c < 513; ++c) ms += double(element(y.t(), r, c)) * element(y.t(), r, c);
    EXPECT_NEAR(ms / 513, 1.0, 1e-6);
    // and the direction of x is kept: y / x is the same positive number across the row
    const double ratio = element(y.t(), r, 0) / element(x.t(), r, 0);
    EXPECT_GT(ratio, 0);
    for (int64_t c = 1; c < 513; ++c) EXPECT_NEAR(element(y.t(), r, c) / element(x.t(), r, c), ratio, 1e-5 * ratio);
  }
}

}  // namespace
}  // namespace llmr::testing
