// add: every implementation equals the reference exactly (one float add per element), over odd
// widths and strided rows, in place too; rejections.
#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class AddBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

TEST_P(AddBattery, MatchesReferenceExactly) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 7}, {64, 33}, {5, 1000}, {2, 4096}}) {
    Strided a(DType::F32, rows, cols, 1), b(DType::F32, rows, cols), out(DType::F32, rows, cols, 6),
        expect(DType::F32, rows, cols);
    a.randomize(-1e3f, 1e3f);
    b.randomize(-1.f, 1.f);
    reference().add(a.t(), b.t(), expect.t());
    impl().add(a.t(), b.t(), out.t());
    expect_close(out.t(), expect.t(), 0, 0, GetParam() + " add [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
    EXPECT_TRUE(out.padding_intact()) << GetParam() << " wrote between rows";
    impl().add(a.t(), b.t(), a.t());  // in place
    expect_close(a.t(), expect.t(), 0, 0, GetParam() + " add in place");
  }
}

TEST_P(AddBattery, RejectsMismatchedShapes) {
  Strided a(DType::F32, 2, 8), b(DType::F32, 3, 8), h(DType::BF16, 2, 8);
  expect_error([&] { impl().add(a.t(), b.t(), a.t()); }, "add: shapes differ: a f32[2, 8], b f32[3, 8]");
  expect_error([&] { impl().add(h.t(), a.t(), a.t()); }, "add: a bf16[2, 8] must be f32");
}

INSTANTIATE_TEST_SUITE_P(Impls, AddBattery, ::testing::ValuesIn(op_impl_names()), param_name);

TEST(AddReference, IsElementwiseSum) {
  Strided a(DType::F32, 2, 3), b(DType::F32, 2, 3), out(DType::F32, 2, 3);
  fill(a.t(), [](int64_t i) { return float(i) * 0.5f; });
  fill(b.t(), [](int64_t i) { return 10.f - float(i); });
  reference().add(a.t(), b.t(), out.t());
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(element(out.t(), i / 3, i % 3), float(i) * 0.5f + 10.f - float(i));
}

}  // namespace
}  // namespace llmr::testing
