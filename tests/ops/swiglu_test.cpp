// swiglu: every implementation against the reference over odd widths and gate ranges that reach
// exp's overflow and underflow, strided rows, rejections; the oracle against silu's definition.
#include <cmath>

#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class SwigluBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

TEST_P(SwigluBattery, MatchesReference) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 7}, {64, 33}, {5, 1000}, {2, 14336}})
    for (float range : {4.f, 120.f}) {
      Strided g(DType::F32, rows, cols, 2), u(DType::F32, rows, cols, 9), out(DType::F32, rows, cols, 4),
          expect(DType::F32, rows, cols);
      g.randomize(-range, range);
      u.randomize(-3.f, 3.f);
      reference().swiglu(g.t(), u.t(), expect.t());
      impl().swiglu(g.t(), u.t(), out.t());
      expect_close(out.t(), expect.t(), 1e-30, 1e-5,
                   GetParam() + " swiglu [" + std::to_string(rows) + ", " + std::to_string(cols) + "] range " +
                       std::to_string(range));
      EXPECT_TRUE(out.padding_intact()) << GetParam() << " wrote between rows";
    }
}

TEST_P(SwigluBattery, RejectsMismatchedShapes) {
  Strided a(DType::F32, 2, 8), b(DType::F32, 2, 9), h(DType::F16, 2, 8);
  expect_error([&] { impl().swiglu(a.t(), b.t(), a.t()); }, "swiglu: shapes differ: gate f32[2, 8], up f32[2, 9]");
  expect_error([&] { impl().swiglu(a.t(), a.t(), h.t()); }, "swiglu: out f16[2, 8] must be f32");
}

INSTANTIATE_TEST_SUITE_P(Impls, SwigluBattery, ::testing::ValuesIn(op_impl_names()), param_name);

TEST(SwigluReference, FollowsSiluDefinition) {
  Strided g(DType::F32, 1, 5), u(DType::F32, 1, 5), out(DType::F32, 1, 5);
  const float gates[] = {0.f, 1.f, -1.f, 50.f, -50.f};
  fill(g.t(), [&](int64_t i) { return gates[i]; });
  fill(u.t(), [](int64_t) { return 2.f; });
  reference().swiglu(g.t(), u.t(), out.t());
  EXPECT_EQ(element(out.t(), 0, 0), 0.f);                                  // silu(0) = 0
  EXPECT_NEAR(element(out.t(), 0, 1) - element(out.t(), 0, 2), 2.f, 1e-6);  // silu(x) - silu(-x) = x
  EXPECT_NEAR(element(out.t(), 0, 3), 100.f, 1e-4);                         // silu(x) -> x for large x
  EXPECT_NEAR(element(out.t(), 0, 4), 0.f, 1e-15);                          // silu(x) -> 0 for very negative x
}

}  // namespace
}  // namespace llmr::testing
