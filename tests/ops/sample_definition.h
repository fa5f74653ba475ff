#pragma once
// The sample batteries' oracle: ops/sample_row.h's definition done the slow way (everything sorted,
// each step literal), the slack of summation order a device may use, and logits with the ties that
// matter.
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <span>
#include <vector>

#include "ops/sample_math.h"
#include "ops/sample_row.h"
#include "test_util.h"

namespace llmr::testing {

// How far the quantities that depend on summation order are moved.
struct Slack {
  int inv_ulps = 0;        // the normaliser 1 / sum, in float ulps
  double cut_scale = 1;    // the top-p running sum
  double draw_scale = 1;   // r = u * kept mass
};

inline int32_t slow_sample(std::span<const float> logits, const SampleRow& row, Slack slack = {}) {
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
inline bool within_slack(std::span<const float> logits, const SampleRow& row, int32_t got) {
  const double e = 1e-9;
  for (int ulps : {0, -1, 1})
    for (double cut : {1.0, 1 - e, 1 + e})
      for (double draw : {1.0, 1 - e, 1 + e})
        if (slow_sample(logits, row, {ulps, cut, draw}) == got) return true;
  return false;
}

// Random logits with the ties that matter: the best logit twice, and the k-th best shared by several
// tokens on both sides of the top-k cut.
inline std::vector<float> tied_logits(size_t n, float spread, int top_k) {
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

}  // namespace llmr::testing
