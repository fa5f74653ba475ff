// sample: every backend's Backend::sample against the definition in ops/sample_row.h done the slow
// way (everything sorted, each step literal), on fresh random logits: greedy with ties, top-k with
// ties at the k-th logit, top-p, min-p, temperature extremes, vocabularies of 1 to 128256 tokens,
// 1 to 130 rows (strided), draws u at 0 and just below 1. Host backends must agree exactly; a device
// may sum in another order, so its choice may differ only where the definition itself changes choice
// under the slack of summation order: 1 / sum one ulp off, or the running sums off by 1e-9 relative.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/op_battery.h"
#include "ops/sample_definition.h"

namespace llmr::testing {
namespace {

class SampleBattery : public ::testing::TestWithParam<std::string> {
 protected:
  // The backend whose memory the logits go to: for test_cuda the CudaBackend itself, not the mirror.
  Backend& impl() {
#ifdef LLMR_TEST_CUDA_BACKEND
    if (GetParam() == "cuda") return cuda_mirror().cuda();
#endif
    return backend_named(GetParam());
  }
  bool exact() const { return GetParam() != "cuda"; }

  // Samples every row of `logits` (rows of n tokens) with its settings on the backend, the rows `pad`
  // floats apart, and checks each choice against the definition.
  void check_rows(const std::vector<std::vector<float>>& logits, const std::vector<SampleRow>& rows, int64_t pad,
                  const std::string& what) {
    const auto n = int64_t(logits[0].size()), count = int64_t(logits.size());
    std::vector<float> host(size_t(count * (n + pad)), std::numeric_limits<float>::quiet_NaN());
    for (int64_t r = 0; r < count; ++r) std::copy(logits[size_t(r)].begin(), logits[size_t(r)].end(), host.begin() + r * (n + pad));
    Backend& b = impl();
    auto buffer = b.upload(Tensor::view(host.data(), DType::F32, {count, n + pad}));
    Tensor t = buffer->tensor();
    t.shape[1] = n;  // a strided view: the padding (NaN) must never be read
    std::vector<int32_t> got(size_t(count), -1);
    b.sample(t, rows, got);
    for (int64_t r = 0; r < count; ++r) {
      const auto& l = logits[size_t(r)];
      const SampleRow& s = rows[size_t(r)];
      const int32_t want = slow_sample(l, s);
      const std::string where = GetParam() + " " + what + " row " + std::to_string(r) + " of " + std::to_string(count) +
                                ", vocab " + std::to_string(n) + ", t " + std::to_string(s.temperature) + " top_k " +
                                std::to_string(s.top_k) + " top_p " + std::to_string(s.top_p) + " min_p " +
                                std::to_string(s.min_p) + " u " + std::to_string(s.u);
      if (got[size_t(r)] == want) continue;
      if (exact() || s.temperature == 0) {
        ADD_FAILURE() << where << ": got " << got[size_t(r)] << ", the definition picks " << want;
      } else if (!within_slack(l, s, got[size_t(r)])) {
        ADD_FAILURE() << where << ": got " << got[size_t(r)] << ", the definition picks " << want
                      << " and no summation slack picks the former";
      } else {
        ++slack_choices_;
      }
    }
  }

  // One setting over `count` rows of fresh logits, each with its own u.
  void check_setting(SampleRow row, int64_t n, int64_t count, float spread, const std::string& what) {
    std::vector<std::vector<float>> logits;
    std::vector<SampleRow> rows;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int64_t r = 0; r < count; ++r) {
      logits.push_back(tied_logits(size_t(n), spread, row.top_k));
      row.u = u(rng());
      rows.push_back(row);
    }
    check_rows(logits, rows, 3, what);
  }

  void TearDown() override {
    // Choices that needed slack are rare: r or top_p within ~1e-7 of a running sum's boundary.
    EXPECT_LE(slack_choices_, 3) << GetParam() << ": " << slack_choices_ << " choices differed within summation slack";
  }

  int slack_choices_ = 0;
};

TEST_P(SampleBattery, GreedyTakesTheFirstLargestLogit) {
  for (int64_t n : {1, 31, 32000, 128256})
    for (int64_t count : {1, 3}) check_setting({0.f, 0, 1.f, 0.f, 0.0}, n, count, 10.f, "greedy");
  // Every logit equal, and the best at the last id only.
  std::vector<float> flat(31, 0.25f), last = random_floats(1000, -5.f, 5.f);
  last.back() = 6.f;
  SampleRow greedy{0.f, 0, 1.f, 0.f, 0.0};
  check_rows({flat}, {greedy}, 0, "equal logits");
  check_rows({last}, {greedy}, 1, "best last");
  // -0 and +0 tie (the lower id wins), as == says on the host.
  std::vector<float> zeros = random_floats(64, -5.f, -1.f);
  zeros[9] = -0.f, zeros[5] = 0.f;
  check_rows({zeros}, {greedy}, 0, "signed zeros");
}

TEST_P(SampleBattery, TopKOnly) {
  for (int k : {1, 2, 5, 40, 300})
    for (float t : {0.7f, 1.5f}) {
      check_setting({t, k, 1.f, 0.f, 0.0}, 31, 8, 3.f, "top-k");
      check_setting({t, k, 1.f, 0.f, 0.0}, 32000, 4, 8.f, "top-k");
    }
  check_setting({1.f, 2000, 1.f, 0.f, 0.0}, 32000, 2, 2.f, "top-k 2000");
  check_setting({1.f, 40, 1.f, 0.f, 0.0}, 128256, 1, 8.f, "top-k 128k");
  check_setting({1.f, 31, 1.f, 0.f, 0.0}, 31, 4, 3.f, "top-k = vocab");
}

TEST_P(SampleBattery, TopPOnly) {
  for (float p : {0.3f, 0.9f, 0.95f}) {
    check_setting({0.8f, 0, p, 0.f, 0.0}, 31, 8, 3.f, "top-p");
    check_setting({0.8f, 0, p, 0.f, 0.0}, 32000, 3, 6.f, "top-p");
    check_setting({1.0f, 40, p, 0.f, 0.0}, 32000, 3, 6.f, "top-k + top-p");
  }
  check_setting({1.0f, 0, 0.9f, 0.f, 0.0}, 128256, 1, 2.f, "top-p over a flat 128k");  // past the best 1024
  check_setting({0.5f, 0, 0.5f, 0.f, 0.0}, 128256, 1, 10.f, "top-p over a peaked 128k");
}

TEST_P(SampleBattery, MinP) {
  for (float m : {0.05f, 0.3f}) {
    check_setting({1.f, 0, 1.f, m, 0.0}, 32000, 3, 8.f, "min-p");
    check_setting({1.f, 40, 1.f, m, 0.0}, 32000, 3, 4.f, "top-k + min-p");
    check_setting({0.8f, 40, 0.95f, m, 0.0}, 32000, 3, 6.f, "top-k + top-p + min-p");
    check_setting({1.f, 0, 0.9f, m, 0.0}, 31, 8, 3.f, "top-p + min-p");
  }
  check_setting({0.8f, 40, 0.95f, 0.05f, 0.0}, 128256, 2, 10.f, "the server's defaults, 128k");
}

TEST_P(SampleBattery, TemperatureExtremes) {
  for (float t : {1e-4f, 1e-2f, 50.f, 1000.f}) {
    check_setting({t, 0, 1.f, 0.f, 0.0}, 32000, 2, 8.f, "temperature");
    check_setting({t, 40, 0.9f, 0.05f, 0.0}, 32000, 2, 8.f, "temperature with cuts");
  }
}

TEST_P(SampleBattery, DrawsNearZeroAndOne) {
  const double below_one = std::nextafter(1.0, 0.0);
  for (double u : {0.0, 1e-15, 1e-9, 1 - 1e-9, below_one})
    for (SampleRow row : {SampleRow{1.f, 0, 1.f, 0.f, 0}, SampleRow{0.8f, 40, 0.95f, 0.05f, 0},
                          SampleRow{1.f, 0, 0.9f, 0.f, 0}, SampleRow{1.f, 5, 1.f, 0.f, 0}}) {
      std::vector<std::vector<float>> logits;
      std::vector<SampleRow> rows;
      row.u = u;
      for (int64_t n : {31, 32000}) check_rows({tied_logits(size_t(n), 4.f, row.top_k)}, {row}, 2, "u at the ends");
    }
}

TEST_P(SampleBattery, ManyRowsOfMixedSettings) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<int> kind(0, 4);
  for (int64_t count : {1, 2, 7, 64, 130}) {  // 130: past one launch of the CUDA kernel
    const int64_t n = count > 64 ? 1000 : 32000;
    std::vector<std::vector<float>> logits;
    std::vector<SampleRow> rows;
    for (int64_t r = 0; r < count; ++r) {
      const SampleRow settings[] = {{0.f, 0, 1.f, 0.f, 0}, {0.8f, 40, 0.95f, 0.05f, 0}, {1.f, 0, 1.f, 0.f, 0},
                                    {0.7f, 0, 0.9f, 0.f, 0}, {1.2f, 100, 1.f, 0.1f, 0}};
      SampleRow row = settings[kind(rng())];
      row.u = u(rng());
      logits.push_back(tied_logits(size_t(n), 6.f, row.top_k));
      rows.push_back(row);
    }
    check_rows(logits, rows, 5, "mixed rows");
  }
}

TEST_P(SampleBattery, RejectsBadArguments) {
  Backend& b = impl();
  std::vector<float> host = random_floats(2 * 16);
  auto buffer = b.upload(Tensor::view(host.data(), DType::F32, {2, 16}));
  const Tensor t = buffer->tensor();
  std::vector<int32_t> out(2);
  const SampleRow ok{1.f, 0, 1.f, 0.f, 0.5};
  expect_error([&] { b.sample(t, std::vector<SampleRow>{ok}, out); }, "sample: logits f32[2, 16] have 2 rows, the settings 1");
  SampleRow bad = ok;
  bad.top_p = 0.f;
  expect_error([&] { b.sample(t, std::vector<SampleRow>{ok, bad}, out); }, "sample: row 1: top-p must be in (0, 1]");
  bad = ok;
  bad.u = 1.0;
  expect_error([&] { b.sample(t, std::vector<SampleRow>{bad, ok}, out); }, "sample: row 0: the uniform draw u");
  bad = ok;
  bad.temperature = -1.f;
  expect_error([&] { b.sample(t, std::vector<SampleRow>{ok, bad}, out); }, "sample: row 1: temperature");
  std::vector<uint16_t> halves(32);
  auto half_buffer = b.upload(Tensor::view(halves.data(), DType::F16, {2, 16}));
  expect_error([&] { b.sample(half_buffer->tensor(), std::vector<SampleRow>{ok, ok}, out); }, "must be f32 [rows, vocab]");
}

INSTANTIATE_TEST_SUITE_P(Impls, SampleBattery, ::testing::ValuesIn(backend_names()), param_name);

// The literal definition itself: draws at temperature 1 with nothing cut follow the softmax.
TEST(SampleDefinition, DrawsFollowTheSoftmax) {
  const std::vector<float> logits = {0.f, 1.f, 2.f, -1.f, 0.5f};
  std::vector<int> counts(logits.size());
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) ++counts[size_t(slow_sample(logits, {1.f, 0, 1.f, 0.f, u(rng())}))];
  double z = 0;
  for (float l : logits) z += std::exp(l);
  for (size_t i = 0; i < logits.size(); ++i) {
    const double expect = std::exp(logits[i]) / z;
    EXPECT_NEAR(counts[i] / double(n), expect, 5 * std::sqrt(expect * (1 - expect) / n)) << "token " << i;  // 5 sigma
  }
}

}  // namespace
}  // namespace llmr::testing
