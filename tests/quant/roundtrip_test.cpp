// Quantize -> dequantize round trips of random rows: the error relative to the data's RMS stays
// under a bound per type (measured on this code, with margin, and close to llama.cpp's figures).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

struct Bound {
  DType type;
  double uniform;   // relative RMSE bound, uniform [-1, 1) data
  double gaussian;  // relative RMSE bound, N(0,1) data with a few outliers
};

// Measured over 12 seeds (mean / worst, uniform then gaussian): f16 0.018%/0.019%, 0.021%/0.022%;
// bf16 0.147%/0.149%, 0.168%/0.174%; q8_0 0.38%/0.38%, 0.60%/0.66%; q4_0 6.5%/6.7%, 9.7%/10.7%;
// q4_1 6.1%/6.2%, 8.1%/8.5%; q4_k 5.5%/5.6%, 7.5%/7.8%; q5_k 2.8%/2.9%, 3.8%/4.0%;
// q6_k 1.32%/1.34%, 1.91%/1.99%. Bounds are the worst case plus about 20%.
const Bound kBounds[] = {
    {DType::F32, 0.0, 0.0},        {DType::F16, 0.00025, 0.00028}, {DType::BF16, 0.0018, 0.0021},
    {DType::Q8_0, 0.0046, 0.008},  {DType::Q4_0, 0.08, 0.125},     {DType::Q4_1, 0.074, 0.10},
    {DType::Q4_K, 0.066, 0.092},   {DType::Q5_K, 0.034, 0.047},    {DType::Q6_K, 0.016, 0.024},
};

double relative_rmse(DType type, const std::vector<float>& x) {
  std::vector<unsigned char> q(row_bytes(type, int64_t(x.size())));
  std::vector<float> back(x.size(), std::nanf(""));
  quantize_row(type, x.data(), q.data(), int64_t(x.size()));
  dequantize_row(type, q.data(), back.data(), int64_t(x.size()));
  double err = 0, sig = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += double(back[i] - x[i]) * (back[i] - x[i]);
    sig += double(x[i]) * x[i];
  }
  return std::sqrt(err / sig);
}

class RoundTrip : public ::testing::TestWithParam<Bound> {};

TEST_P(RoundTrip, UniformDataWithinBound) {
  const Bound b = GetParam();
  auto x = testing::random_floats(16 * 256, -1.f, 1.f);
  const double e = relative_rmse(b.type, x);
  std::printf("%-5s uniform  relative rmse %.5f (bound %.5f)\n", name(b.type), e, b.uniform);
  EXPECT_LE(e, b.uniform);
  if (b.type == DType::F32) EXPECT_EQ(e, 0.0);
}

TEST_P(RoundTrip, GaussianDataWithOutliersWithinBound) {
  const Bound b = GetParam();
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(16 * 256);
  for (auto& v : x) v = normal(testing::rng());
  for (size_t i = 0; i < x.size(); i += 509) x[i] *= 6.f;  // sparse outliers, as real weights have
  const double e = relative_rmse(b.type, x);
  std::printf("%-5s gaussian relative rmse %.5f (bound %.5f)\n", name(b.type), e, b.gaussian);
  EXPECT_LE(e, b.gaussian);
}

TEST_P(RoundTrip, ScaleInvariantAcrossMagnitudes) {
  // Small and huge rows quantize as well as unit ones (scales are relative, not absolute). Not much
  // smaller: the k-quants' f16 super-block scale turns subnormal below magnitudes of about 0.05.
  const Bound b = GetParam();
  for (float mag : {0.05f, 1e3f}) {
    auto x = testing::random_floats(4 * 256, -mag, mag);
    EXPECT_LE(relative_rmse(b.type, x), b.uniform * 1.3 + 1e-6) << name(b.type) << " magnitude " << mag;
  }
}

TEST_P(RoundTrip, ZeroRowStaysZero) {
  const Bound b = GetParam();
  std::vector<float> x(512, 0.f), back(512, 1.f);
  std::vector<unsigned char> q(row_bytes(b.type, 512));
  quantize_row(b.type, x.data(), q.data(), 512);
  dequantize_row(b.type, q.data(), back.data(), 512);
  for (float v : back) ASSERT_EQ(v, 0.f) << name(b.type);
}

TEST_P(RoundTrip, RejectsPartialBlocks) {
  const Bound b = GetParam();
  const int64_t block = info(b.type).block_elems;
  if (block == 1) GTEST_SUCCEED() << "plain types take any length";
  else {
    std::vector<float> x(2 * block, 0.5f);
    std::vector<unsigned char> q(row_bytes(b.type, 2 * block));
    EXPECT_THROW(quantize_row(b.type, x.data(), q.data(), block + 1), Error);
    EXPECT_THROW(dequantize_row(b.type, q.data(), x.data(), 2 * block - 16), Error);
  }
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, RoundTrip, ::testing::ValuesIn(kBounds),
                         [](const auto& info) { return std::string(name(info.param.type)); });

TEST(QuantRow, RejectsNonWeightTypes) {
  std::vector<float> x(64, 1.f);
  std::vector<unsigned char> q(256);
  EXPECT_THROW(quantize_row(DType::I32, x.data(), q.data(), 64), Error);
  EXPECT_THROW(dequantize_row(DType::I32, q.data(), x.data(), 64), Error);
  EXPECT_THROW(dequantize_row(DType(77), q.data(), x.data(), 64), Error);
  EXPECT_THROW(dequantize_row(DType::Q8_0, q.data(), x.data(), -32), Error);
}

}  // namespace
}  // namespace llmr
