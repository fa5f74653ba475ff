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
#include "ops/sample_math.h"
#include "ops/sample_row.h"

namespace llmr::testing {
namespace {

// How far the quantities that depend on summation order are moved.
struct Slack {
  int inv_ulps = 0;        // the normaliser 1 / sum, in float ulps
  double cut_scale = 1;    // the top-p running sum
  double draw_scale = 1;   // r = u * kept mass
};

int32_t slow_sample(std::span<const float> logits, const SampleRow& row, Slack slack = {}) {
  const size_t n = logits.size();
  std::vector<std::pair<float, int32_t>> c;  // (logit, then probability; id), best first
  for (size_t i = 0; i < n; ++i) c.push_back({logits[i], int32_t(i)});
  std::sort(c.begin(), c.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  if (row.temperature == 0) return c[0].second;
  const bool top_k = row.top_k > 0 && size_t(row.top_k) < n;
  if (top_k) c.resize(size_t(row.top_k));
  const float top = c[0].first;
  auto weight = [&](float l) { return sample_math::exp_nonpositive((l - top) / row.temperature); };
  std::vector<std::pair<int32_t, float>> by_id;
  for (auto& [l, id] : c) by_id.push_back({id, weight(l)});
  std::sort(by_id.begin(), by_id.end());
  std::vector<float> weights;
  for (auto& [id, e] : by_id) weights.push_back(e);
  auto inv = float(1.0 / sample_math::sum(weights));
  for (int k = 0; k < std::abs(slack.inv_ulps); ++k)
    inv = std::nextafter(inv, slack.inv_ulps > 0 ? 2.f : 0.f);
  for (auto& [l, id] : c) l = weight(l) * inv;
  size_t keep = c.size();
  if (row.top_p < 1) {
    double cum = 0;
    for (size_t i = 0; i < c.size(); ++i)
      if ((cum += c[i].first) * slack.cut_scale >= row.top_p) {
        keep = i + 1;
        break;
      }
  }
  if (row.min_p > 0) {
    size_t i = 1;
    while (i < keep && c[i].first >= row.min_p * c[0].first) ++i;
    keep = i;
  }
  c.resize(keep);
  std::vector<std::pair<int32_t, float>> kept;
  for (auto& [q, id] : c) kept.push_back({id, q});
  std::sort(kept.begin(), kept.end());
  double mass = 0;
  if (!top_k && row.top_p >= 1 && row.min_p <= 0) {
    std::vector<float> all;
    for (auto& [id, q] : kept) all.push_back(q);
    mass = sample_math::sum(all);  // nothing cut: the vocabulary-wide sum
  } else {
    for (auto& [id, q] : kept) mass += q;
  }
  double r = row.u * mass * slack.draw_scale;
  for (auto& [id, q] : kept)
    if ((r -= q) <= 0) return id;
  return kept.back().first;
}

// Whether the definition picks `got` under some slack of summation order.
bool within_slack(std::span<const float> logits, const SampleRow& row, int32_t got) {
  const double e = 1e-9;
  for (int ulps : {0, -1, 1})
    for (double cut : {1.0, 1 - e, 1 + e})
      for (double draw : {1.0, 1 - e, 1 + e})
        if (slow_sample(logits, row, {ulps, cut, draw}) == got) return true;
  return false;
}

// Random logits with the ties that matter: the best logit twice, and the k-th best shared by several
// tokens on both sides of the top-k cut.
std::vector<float> tied_logits(size_t n, float spread, int top_k) {
  std::vector<float> v = random_floats(n, -spread, spread);
  if (n < 4) return v;
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  const float best = *std::max_element(v.begin(), v.end());
  v[pick(rng())] = best;
  if (top_k > 0 && size_t(top_k) < n) {
    std::vector<float> sorted = v;
    std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<>());
    const float kth = sorted[size_t(top_k - 1)];
    for (int j = 0; j < 3; ++j) v[pick(rng())] = kth;
  }
  return v;
}

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
