// Embedding on every backend and weight type: rows equal dequantize_row of the table row, bit for
// bit; out-of-range ids are rejected naming the id.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "ops/backends_under_test.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                              DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

class EmbeddingBattery : public ::testing::TestWithParam<std::tuple<std::string, DType>> {};

TEST_P(EmbeddingBattery, RowsAreDequantizedTableRows) {
  const auto [impl, type] = GetParam();
  Backend& be = testing::backend_named(impl);
  for (int64_t dim : {256, 512, 4096}) {
    const int64_t vocab = 37;
    HostBuffer table(type, {vocab, dim});
    for (int64_t r = 0; r < vocab; ++r) {
      auto v = testing::random_floats(size_t(dim), -1.f, 1.f);
      quantize_row(type, v.data(), table.tensor().row(r), dim);
    }
    std::uniform_int_distribution<int32_t> pick(0, int32_t(vocab - 1));
    std::vector<int32_t> ids(19);
    for (auto& id : ids) id = pick(testing::rng());
    ids[3] = ids[4];  // a repeated token
    ids.back() = int32_t(vocab - 1);
    HostBuffer out(DType::F32, {int64_t(ids.size()), dim});
    be.embedding(table.tensor(), ids, out.tensor());
    std::vector<float> want(static_cast<size_t>(dim));
    for (size_t t = 0; t < ids.size(); ++t) {
      dequantize_row(type, table.tensor().row(ids[t]), want.data(), dim);
      ASSERT_EQ(std::memcmp(want.data(), out.tensor().row<float>(int64_t(t)), size_t(dim) * 4), 0)
          << name(type) << " dim " << dim << " position " << t << " id " << ids[t];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, EmbeddingBattery,
                         ::testing::Combine(::testing::ValuesIn(testing::backend_names()),
                                            ::testing::ValuesIn(kWeightTypes)),
                         [](const auto& p) {
                           return std::get<0>(p.param) + "_" + name(std::get<1>(p.param));
                         });

class EmbeddingErrors : public ::testing::TestWithParam<std::string> {};

TEST_P(EmbeddingErrors, RejectsOutOfRangeIdsAndBadShapes) {
  Backend& be = testing::backend_named(GetParam());
  HostBuffer table(DType::Q8_0, {10, 64}), out(DType::F32, {2, 64}), narrow(DType::F32, {2, 32});
  for (int32_t bad : {10, -1, 1 << 30}) {
    const std::vector<int32_t> ids = {0, bad};
    try {
      be.embedding(table.tensor(), ids, out.tensor());
      ADD_FAILURE() << "id " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(bad)), std::string::npos) << e.what();
    }
  }
  const std::vector<int32_t> ok = {1, 2}, three = {1, 2, 3};
  EXPECT_THROW(be.embedding(table.tensor(), three, out.tensor()), Error);
  EXPECT_THROW(be.embedding(table.tensor(), ok, narrow.tensor()), Error);
  be.embedding(table.tensor(), ok, out.tensor());
}

INSTANTIATE_TEST_SUITE_P(AllBackends, EmbeddingErrors, ::testing::ValuesIn(testing::backend_names()));

}  // namespace
}  // namespace llmr
