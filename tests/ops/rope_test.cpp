// rope: both layouts, full and partial rotary, positions not starting at 0 and large ones, odd head
// counts; every implementation against the reference; the oracle against rotation's properties.
#include <cmath>
#include <vector>

#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class RopeBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

std::vector<float> inv_freq_for(int rot, double base) {
  std::vector<float> f(size_t(rot / 2));
  for (int i = 0; i < rot / 2; ++i) f[i] = float(std::pow(base, -2.0 * i / rot));
  return f;
}

std::vector<int32_t> positions_from(int32_t start, int64_t n, bool shuffled) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  std::uniform_int_distribution<int32_t> any(0, 100000);
  for (int64_t i = 0; i < n; ++i) p[i] = shuffled ? any(rng()) : start + int32_t(i);
  return p;
}

struct Shape {
  int64_t tokens;
  int n_heads, head_dim, rot_dims;
};

TEST_P(RopeBattery, MatchesReference) {
  const Shape shapes[] = {{1, 1, 2, 2}, {3, 4, 64, 64}, {7, 3, 128, 128}, {5, 2, 128, 64},
                          {4, 5, 80, 32}, {2, 8, 96, 96}, {9, 2, 64, 10}, {1, 32, 128, 128}};
  for (RopeLayout layout : {RopeLayout::NeoX, RopeLayout::Interleaved})
    for (const Shape& s : shapes)
      for (bool shuffled : {false, true}) {
        const int64_t cols = int64_t(s.n_heads) * s.head_dim;
        Strided x(DType::F32, s.tokens, cols, 5), expect(DType::F32, s.tokens, cols);
        x.randomize(-2.f, 2.f);
        expect.copy_from(x);
        const auto inv_freq = inv_freq_for(s.rot_dims, s.head_dim == 128 ? 500000.0 : 10000.0);
        const auto pos = positions_from(37, s.tokens, shuffled);
        const RopeSpec spec{s.head_dim, s.rot_dims, layout, inv_freq.data()};
        reference().rope(expect.t(), s.n_heads, pos, spec);
        impl().rope(x.t(), s.n_heads, pos, spec);
        const std::string what = GetParam() + (layout == RopeLayout::NeoX ? " neox " : " interleaved ") + "heads " +
                                 std::to_string(s.n_heads) + " hd " + std::to_string(s.head_dim) + " rot " +
                                 std::to_string(s.rot_dims) + (shuffled ? " scattered positions" : " positions from 37");
        // cos/sin are rounded to float before the rotation in float: a few ulp of |x|.
        expect_close(x.t(), expect.t(), 2e-6, 2e-6, what);
        EXPECT_TRUE(x.padding_intact()) << what << " wrote between rows";
      }
}

TEST_P(RopeBattery, RejectsBadSpecs) {
  Strided x(DType::F32, 2, 64);
  const auto f = inv_freq_for(32, 10000.0);
  const std::vector<int32_t> pos{0, 1}, short_pos{0}, neg{0, -1};
  Backend& b = impl();
  expect_error([&] { b.rope(x.t(), 3, pos, {32, 32, RopeLayout::NeoX, f.data()}); }, "rope: x f32[2, 64] must have n_heads * head_dim");
  expect_error([&] { b.rope(x.t(), 2, pos, {32, 34, RopeLayout::NeoX, f.data()}); }, "rope: rot_dims 34");
  expect_error([&] { b.rope(x.t(), 2, pos, {32, 7, RopeLayout::NeoX, f.data()}); }, "rope: rot_dims 7");
  expect_error([&] { b.rope(x.t(), 2, pos, {32, 32, RopeLayout::NeoX, nullptr}); }, "rope: inv_freq");
  expect_error([&] { b.rope(x.t(), 2, short_pos, {32, 32, RopeLayout::NeoX, f.data()}); }, "rope: 1 positions");
  expect_error([&] { b.rope(x.t(), 2, neg, {32, 32, RopeLayout::NeoX, f.data()}); }, "rope: position -1");
  Strided h(DType::F16, 2, 64);
  expect_error([&] { b.rope(h.t(), 2, pos, {32, 32, RopeLayout::NeoX, f.data()}); }, "rope: x f16[2, 64] must be f32");
}

INSTANTIATE_TEST_SUITE_P(Impls, RopeBattery, ::testing::ValuesIn(op_impl_names()), param_name);

// The oracle against what a rotation must do.
TEST(RopeReference, PreservesPairNormsAndLeavesTheTailAndPositionZeroAlone) {
  for (RopeLayout layout : {RopeLayout::NeoX, RopeLayout::Interleaved}) {
    const int hd = 64, rot = 48, heads = 3;
    Strided x(DType::F32, 4, heads * hd), orig(DType::F32, 4, heads * hd);
    x.randomize();
    orig.copy_from(x);
    const auto f = inv_freq_for(rot, 10000.0);
    const std::vector<int32_t> pos{0, 1, 2, 1000};
    reference().rope(x.t(), heads, pos, {hd, rot, layout, f.data()});
    for (int64_t t = 0; t < 4; ++t)
      for (int h = 0; h < heads; ++h) {
        const float* a = orig.t().row<float>(t) + h * hd;
        const float* b = x.t().row<float>(t) + h * hd;
        for (int i = 0; i < rot / 2; ++i) {
          const int p = layout == RopeLayout::NeoX ? i : 2 * i, q = layout == RopeLayout::NeoX ? i + rot / 2 : 2 * i + 1;
          EXPECT_NEAR(std::hypot(a[p], a[q]), std::hypot(b[p], b[q]), 1e-6);
          // The angle turned is pos * inv_freq[i].
          const double turned =
              std::remainder(std::atan2(b[q], b[p]) - std::atan2(a[q], a[p]) - double(float(pos[t]) * f[i]), 2 * M_PI);
          EXPECT_NEAR(turned, 0.0, 1e-5 + 1e-6 / std::hypot(a[p], a[q])) << "t " << t << " i " << i;
          if (pos[t] == 0) EXPECT_EQ(a[p], b[p]);
        }
        for (int d = rot; d < hd; ++d) EXPECT_EQ(a[d], b[d]) << "dims past rot_dims must not change";
      }
  }
}

// Relative positions: q.k after rotation depends only on the distance between positions.
TEST(RopeReference, DotProductsDependOnlyOnRelativePosition) {
  const int hd = 32;
  const auto f = inv_freq_for(hd, 10000.0);
  Strided q(DType::F32, 1, hd), k(DType::F32, 1, hd);
  q.randomize();
  k.randomize();
  auto rotated_dot = [&](int32_t pq, int32_t pk) {
    Strided a(DType::F32, 1, hd), b(DType::F32, 1, hd);
    a.copy_from(q);
    b.copy_from(k);
    reference().rope(a.t(), 1, std::vector<int32_t>{pq}, {hd, hd, RopeLayout::NeoX, f.data()});
    reference().rope(b.t(), 1, std::vector<int32_t>{pk}, {hd, hd, RopeLayout::NeoX, f.data()});
    double d = 0;
    for (int i = 0; i < hd; ++i) d += double(element(a.t(), 0, i)) * element(b.t(), 0, i);
    return d;
  };
  EXPECT_NEAR(rotated_dot(10, 3), rotated_dot(107, 100), 1e-4);
  EXPECT_NEAR(rotated_dot(5, 5), rotated_dot(0, 0), 1e-5);
}

}  // namespace
}  // namespace llmr::testing
