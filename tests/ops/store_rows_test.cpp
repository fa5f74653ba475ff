// store_rows: dst[positions[t]] = src[t] converted, positions read from an I32 tensor. Every float
// type pair against the reference (bit-exact: both round to nearest even), scattered and repeated-free
// positions into strided destinations whose other rows and padding must stay untouched; q8_0
// destinations (the KV cache) byte for byte as the reference quantizer writes them; rejections.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class StoreRowsBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16};

// `count` distinct positions in [0, n), in random order.
std::vector<int32_t> random_positions(int64_t count, int64_t n) {
  std::vector<int32_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng());
  all.resize(size_t(count));
  return all;
}

Tensor index_tensor(std::vector<int32_t>& v) {
  return Tensor::view(v.data(), DType::I32, {int64_t(v.size())});
}

TEST_P(StoreRowsBattery, ScatteredRowsMatchTheReferenceAndNothingElseChanges) {
  for (DType from : kTypes)
    for (DType to : kTypes)
      for (auto [rows, n_dst, cols] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {1, 37, 64}, {3, 9, 15},
                                       {5, 40, 128}, {2, 7, 1001}}) {
        Strided src(from, rows, cols, 3), dst(to, n_dst, cols, 5), expect(to, n_dst, cols, 5);
        src.randomize(-4.f, 4.f);
        dst.randomize(-1.f, 1.f);
        expect.copy_from(dst);
        std::vector<int32_t> pos = random_positions(rows, n_dst);
        reference().store_rows(src.t(), expect.t(), index_tensor(pos));
        impl().store_rows(src.t(), dst.t(), index_tensor(pos));
        const std::string what = GetParam() + " " + name(from) + "->" + name(to) + " [" + std::to_string(rows) +
                                 " into " + std::to_string(n_dst) + ", " + std::to_string(cols) + "]";
        for (int64_t r = 0; r < n_dst; ++r)
          for (int64_t c = 0; c < cols; ++c)
            ASSERT_EQ(f32_to_bits(element(dst.t(), r, c)), f32_to_bits(element(expect.t(), r, c)))
                << what << " at [" << r << ", " << c << "]";
        EXPECT_TRUE(dst.padding_intact()) << what << " wrote between rows";
        EXPECT_TRUE(src.padding_intact()) << what << " wrote into src";
      }
}

// Whether row r of a and b hold the same bytes (q8_0: scales and levels).
bool same_row_bytes(const Tensor& a, const Tensor& b, int64_t r) {
  return std::memcmp(a.row<const void>(r), b.row<const void>(r), row_bytes(a.type, a.cols())) == 0;
}

TEST_P(StoreRowsBattery, QuantizesIntoQ8RowsAsTheReferenceDoes) {
  for (DType from : kTypes)
    for (auto [rows, n_dst, cols] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 32}, {1, 37, 64}, {5, 40, 128},
                                     {3, 9, 96}, {2, 7, 1024}}) {
      Strided src(from, rows, cols, 3), dst(DType::Q8_0, n_dst, cols, 32), expect(DType::Q8_0, n_dst, cols, 32);
      src.randomize(-4.f, 4.f);
      // One block of exact zeros (scale 0) and one of a single large value (levels at +-127).
      if (cols >= 64) {
        fill(src.t().slice_rows(0, 1), [&](int64_t i) { return i < 32 ? 0.f : i == 40 ? 3.5f : element(src.t(), 0, i); });
      }
      dst.randomize(-1.f, 1.f);
      expect.copy_from(dst);
      std::vector<int32_t> pos = random_positions(rows, n_dst);
      reference().store_rows(src.t(), expect.t(), index_tensor(pos));
      impl().store_rows(src.t(), dst.t(), index_tensor(pos));
      const std::string what = GetParam() + " " + name(from) + "->q8_0 [" + std::to_string(rows) + " into " +
                               std::to_string(n_dst) + ", " + std::to_string(cols) + "]";
      for (int64_t r = 0; r < n_dst; ++r) ASSERT_TRUE(same_row_bytes(dst.t(), expect.t(), r)) << what << " row " << r;
      // And the stored row is the source within half a level of its block, plus the f16 rounding of
      // the scale (relative 2^-11) over up to 127 levels.
      for (int64_t t = 0; t < rows; ++t)
        for (int64_t c = 0; c < cols; ++c) {
          const double d = f16_to_f32(dst.t().row<const quant::BlockQ8_0>(pos[size_t(t)])[c / 32].d);
          ASSERT_NEAR(element(dst.t(), pos[size_t(t)], c), element(src.t(), t, c), 0.5 * d + 127 * d / 2048)
              << what << " at [" << t << ", " << c << "]";
        }
      EXPECT_TRUE(dst.padding_intact()) << what << " wrote between rows";
    }
}

TEST_P(StoreRowsBattery, StoredRowsEqualCopiedRows) {
  // The KV cache written by store_rows must equal the one written by copy (the direct path's way),
  // f16 and q8_0 alike; copying q8_0 rows out again gives their dequantized values.
  for (DType type : {DType::F16, DType::Q8_0}) {
    Strided src(DType::F32, 4, 96), by_store(type, 20, 96), by_copy(type, 20, 96);
    src.randomize(-8.f, 8.f);
    by_store.randomize();
    by_copy.copy_from(by_store);
    std::vector<int32_t> pos = {11, 12, 13, 14};
    impl().store_rows(src.t(), by_store.t(), index_tensor(pos));
    impl().copy(src.t(), by_copy.t().slice_rows(11, 4));
    for (int64_t r = 0; r < 20; ++r)
      ASSERT_TRUE(same_row_bytes(by_store.t(), by_copy.t(), r)) << GetParam() << " " << name(type) << " row " << r;
    Strided back(DType::F32, 4, 96);
    impl().copy(by_store.t().slice_rows(11, 4), back.t());
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 96; ++c)
        ASSERT_EQ(element(back.t(), r, c), element(by_store.t(), 11 + r, c)) << GetParam() << " " << name(type);
  }
}

TEST_P(StoreRowsBattery, RejectsMismatchedShapesAndTypes) {
  Strided src(DType::F32, 2, 8), dst(DType::F16, 6, 8), narrow(DType::F16, 6, 7), q8(DType::Q8_0, 6, 32);
  src.randomize();
  std::vector<int32_t> pos = {0, 1}, one = {0};
  EXPECT_THROW(impl().store_rows(src.t(), narrow.t(), index_tensor(pos)), Error);
  EXPECT_THROW(impl().store_rows(src.t(), dst.t(), index_tensor(one)), Error);
  std::vector<float> not_ints = {0.f, 1.f};
  EXPECT_THROW(impl().store_rows(src.t(), dst.t(), Tensor::view(not_ints.data(), DType::F32, {2})), Error);
  Strided src32(DType::F32, 2, 32), q4(DType::Q4_0, 6, 32);
  src32.randomize();
  EXPECT_THROW(impl().store_rows(src32.t(), q4.t(), index_tensor(pos)), Error);
  EXPECT_THROW(impl().store_rows(q8.t(), q8.t(), index_tensor(pos)), Error);  // q8_0 is written, never read, here
}

TEST_P(StoreRowsBattery, PositionsOutsideDstNeverWrite) {
  // Host backends reject them; the GPU (which cannot throw from a kernel) skips those rows.
  Strided src(DType::F32, 2, 16), dst(DType::F32, 4, 16, 2), before(DType::F32, 4, 16, 2);
  src.randomize();
  dst.randomize();
  before.copy_from(dst);
  for (std::vector<int32_t> pos : {std::vector<int32_t>{4, 5}, {-1, -2}, {100000, 4}}) {
    try {
      impl().store_rows(src.t(), dst.t(), index_tensor(pos));
    } catch (const Error&) {
    }
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 16; ++c)
        ASSERT_EQ(element(dst.t(), r, c), element(before.t(), r, c)) << GetParam() << " at [" << r << ", " << c << "]";
    EXPECT_TRUE(dst.padding_intact()) << GetParam();
  }
  if (GetParam() != "cuda") {
    std::vector<int32_t> pos = {1, 4};
    EXPECT_THROW(impl().store_rows(src.t(), dst.t(), index_tensor(pos)), Error);
  }
}

INSTANTIATE_TEST_SUITE_P(Impls, StoreRowsBattery, ::testing::ValuesIn(op_impl_names()), param_name);

}  // namespace
}  // namespace llmr::testing
