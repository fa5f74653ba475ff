// softmax: every implementation against the reference over odd widths and wide logit ranges
// (stability: huge logits must not overflow), plus the oracle's own properties.
#include <cmath>

#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class SoftmaxBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

TEST_P(SoftmaxBattery, MatchesReference) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {5, 7}, {64, 33}, {3, 1000}, {2, 4096}, {1, 32001}})
    for (float spread : {1.f, 30.f, 1e4f}) {
      Strided x(DType::F32, rows, cols, 3), expect(DType::F32, rows, cols);
      x.randomize(-spread, spread);
      expect.copy_from(x);
      reference().softmax(expect.t());
      impl().softmax(x.t());
      // Outputs near zero are compared absolutely; ~2 ulp exp plus the normalising sum otherwise.
      expect_close(x.t(), expect.t(), 1e-9, 2e-5,
                   GetParam() + " softmax [" + std::to_string(rows) + ", " + std::to_string(cols) + "] spread " +
                       std::to_string(spread));
      EXPECT_TRUE(x.padding_intact()) << GetParam() << " wrote between rows";
    }
}

TEST_P(SoftmaxBattery, HugeLogitsStayFiniteAndSumToOne) {
  Strided x(DType::F32, 3, 100);
  x.randomize(1e30f, 3e38f);  // exp of any of these alone overflows; subtracting the max must come first
  impl().softmax(x.t());
  for (int64_t r = 0; r < 3; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < 100; ++c) {
      ASSERT_TRUE(std::isfinite(element(x.t(), r, c))) << GetParam();
      sum += element(x.t(), r, c);
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << GetParam();
  }
}

TEST_P(SoftmaxBattery, RejectsNonF32) {
  Strided x(DType::F16, 2, 8);
  expect_error([&] { impl().softmax(x.t()); }, "softmax: x f16[2, 8] must be f32");
}

INSTANTIATE_TEST_SUITE_P(Impls, SoftmaxBattery, ::testing::ValuesIn(op_impl_names()), param_name);

TEST(SoftmaxReference, RowsArePositiveSumToOneAndKeepOrder) {
  Strided x(DType::F32, 8, 301), orig(DType::F32, 8, 301);
  x.randomize(-20.f, 20.f);
  orig.copy_from(x);
  reference().softmax(x.t());
  for (int64_t r = 0; r < 8; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < 301; ++c) {
      EXPECT_GT(element(x.t(), r, c), 0.f);
      sum += element(x.t(), r, c);
      // Ratios follow the logits: p_c / p_0 = exp(x_c - x_0).
      const double ratio = double(element(x.t(), r, c)) / element(x.t(), r, 0);
      EXPECT_NEAR(std::log(ratio), double(element(orig.t(), r, c)) - element(orig.t(), r, 0), 1e-4);
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
}

}  // namespace
}  // namespace llmr::testing
