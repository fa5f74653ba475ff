// Sampler: greedy picks the first largest logit; a seeded draw equals the one the literal definition
// in sampler.h (sort everything, cut, softmax, top-p, min-p, draw in id order) makes with the same generator;
// draws at temperature 1 with no cuts follow the softmax.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "runtime/sampler.h"
#include "ops/sample_math.h"
#include "test_util.h"

namespace llmr::testing {
namespace {

// The pipeline as sampler.h defines it, done the slow way: everything sorted, every step literal.
int32_t naive_sample(std::vector<float> logits, const SamplingParams& p, std::mt19937_64& rng) {
  std::vector<std::pair<float, int32_t>> c;  // (logit, then probability; id), best first
  for (size_t i = 0; i < logits.size(); ++i) c.push_back({logits[i], int32_t(i)});
  std::sort(c.begin(), c.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  if (p.temperature == 0) return c[0].second;
  if (p.top_k > 0 && size_t(p.top_k) < c.size()) c.resize(size_t(p.top_k));
  const float top = c[0].first;
  auto weight = [&](float l) { return sample_math::exp_nonpositive((l - top) / p.temperature); };
  std::vector<std::pair<int32_t, float>> by_id;  // (id, weight)
  for (auto& [l, id] : c) by_id.push_back({id, weight(l)});
  std::sort(by_id.begin(), by_id.end());
  std::vector<float> weights;
  for (auto& [id, e] : by_id) weights.push_back(e);
  const auto inv = float(1.0 / sample_math::sum(weights));
  for (auto& [l, id] : c) l = weight(l) * inv;
  size_t keep = c.size();
  if (p.top_p < 1) {
    double cum = 0;
    for (size_t i = 0; i < c.size(); ++i)
      if ((cum += c[i].first) >= p.top_p) {
        keep = i + 1;
        break;
      }
  }
  if (p.min_p > 0) {
    size_t i = 1;
    while (i < keep && c[i].first >= p.min_p * c[0].first) ++i;
    keep = i;
  }
  c.resize(keep);
  std::vector<std::pair<int32_t, float>> kept;
  for (auto& [q, id] : c) kept.push_back({id, q});
  std::sort(kept.begin(), kept.end());
  double mass = 0;
  if (kept.size() == logits.size() && p.top_k == 0 && p.top_p >= 1 && p.min_p <= 0) {
    std::vector<float> all;
    for (auto& [id, q] : kept) all.push_back(q);
    mass = sample_math::sum(all);  // every token kept: the vocabulary-wide sum
  } else {
    for (auto& [id, q] : kept) mass += q;
  }
  double r = std::uniform_real_distribution<double>(0.0, mass)(rng);
  for (auto& [id, q] : kept)
    if ((r -= q) <= 0) return id;
  return kept.back().first;
}

TEST(Sampler, GreedyTakesTheFirstLargestLogit) {
  std::vector<float> logits = random_floats(1000, -5.f, 5.f);
  logits[17] = logits[400] = 9.f;
  SamplingParams p;
  p.temperature = 0;
  EXPECT_EQ(Sampler(p).sample(logits, {}), 17);
  p.temperature = 0.7f;
  p.top_k = 1;
  EXPECT_EQ(Sampler(p).sample(logits, {}), 17);
}

TEST(Sampler, SeededDrawsEqualTheSlowDefinition) {
  const SamplingParams settings[] = {
      {0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0},  // the defaults
      {1.0f, 0, 1.0f, 0.0f, 1.0f, 64, 0},     // nothing cut
      {0.5f, 5, 1.0f, 0.0f, 1.0f, 64, 0},
      {1.3f, 1000, 0.5f, 0.0f, 1.0f, 64, 0},
      {1.0f, 2000, 1.0f, 0.2f, 1.0f, 64, 0},
      {0.8f, 0, 0.9f, 0.0f, 1.0f, 64, 0},     // top-p over every token: past the first 1024
      {0.3f, 0, 0.5f, 0.0f, 1.0f, 64, 0},     // top-p reached within the first 1024
      {0.9f, 0, 1.0f, 0.1f, 1.0f, 64, 0},     // min-p over every token
  };
  for (SamplingParams p : settings) {
    p.seed = rng()();
    Sampler sampler(p);
    std::mt19937_64 same(p.seed);
    for (int step = 0; step < 50; ++step) {
      std::vector<float> logits = random_floats(128256 / 8, -4.f, 4.f);
      logits[size_t(step) * 7] = logits[size_t(step) * 7 + 1];  // ties must break by id
      ASSERT_EQ(sampler.sample(logits, {}), naive_sample(logits, p, same)) << "top_k " << p.top_k << " step " << step;
    }
  }
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  const std::vector<float> logits = {0.f, 1.f, 2.f, -1.f, 0.5f};
  SamplingParams p{1.0f, 0, 1.0f, 0.0f, 1.0f, 64, rng()()};
  Sampler sampler(p);
  std::vector<int> counts(logits.size());
  const int n = 200000;
  for (int i = 0; i < n; ++i) ++counts[size_t(sampler.sample(logits, {}))];
  double z = 0;
  for (float l : logits) z += std::exp(l);
  for (size_t i = 0; i < logits.size(); ++i) {
    const double expect = std::exp(logits[i]) / z;
    // 5 standard deviations of a binomial count.
    EXPECT_NEAR(counts[i] / double(n), expect, 5 * std::sqrt(expect * (1 - expect) / n)) << "token " << i;
  }
}

TEST(SamplerMath, ExpAndSumAreAccurate) {
  double worst = 0;
  for (float x = -87.f; x <= 0.f; x += 0.00037f) {
    const double want = std::exp(double(x));
    worst = std::max(worst, std::fabs(sample_math::exp_nonpositive(x) - want) / want);
  }
  EXPECT_LT(worst, 1e-5);  // x log2(e) rounded to f32: |x| 2^-24 relative at most
  EXPECT_EQ(sample_math::exp_nonpositive(0.f), 1.f);
  EXPECT_EQ(sample_math::exp_nonpositive(-200.f), 0.f);
  const std::vector<float> v = random_floats(1001, 0.f, 1.f);
  long double want = 0;
  for (float f : v) want += f;
  EXPECT_NEAR(sample_math::sum(v), double(want), 1e-12 * double(want));
}

TEST(Sampler, RepetitionPenaltyLowersRecentTokens) {
  std::vector<float> logits(100, 0.f);
  logits[3] = 2.f;
  logits[8] = 1.5f;
  SamplingParams p;
  p.temperature = 0;
  p.repeat_penalty = 2.f;
  const std::vector<int32_t> history = {3};
  EXPECT_EQ(Sampler(p).sample(logits, history), 8);  // 2 / 2 = 1 < 1.5
  EXPECT_EQ(Sampler(p).sample(logits, {}), 3);
}

}  // namespace
}  // namespace llmr::testing
