#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "core/error.h"

namespace llmr {

void SamplingParams::validate() const {
  check(std::isfinite(temperature) && temperature >= 0, "temperature must be >= 0");
  check(top_k >= 0, "top-k must be >= 0");
  check(top_p > 0 && top_p <= 1, "top-p must be in (0, 1]");
  check(min_p >= 0 && min_p < 1, "min-p must be in [0, 1)");
  check(std::isfinite(repeat_penalty) && repeat_penalty > 0, "repeat penalty must be > 0");
  check(repeat_last_n >= 0, "repeat-last-n must be >= 0");
}

Sampler::Sampler(const SamplingParams& params) : p_(params), rng_(params.seed) { p_.validate(); }

int32_t argmax(std::span<const float> logits) {
  return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) candidates_[i] = {logits[i], int32_t(i)};
  if (p_.repeat_penalty != 1.0f && p_.repeat_last_n > 0) {
    // As llama.cpp: positive logits are divided by the penalty, negative ones multiplied.
    std::unordered_set<int32_t> seen;
    const size_t n = std::min(history.size(), size_t(p_.repeat_last_n));
    for (size_t i = history.size() - n; i < history.size(); ++i) seen.insert(history[i]);
    for (int32_t id : seen) {
      if (id < 0 || size_t(id) >= candidates_.size()) continue;
      float& l = candidates_[size_t(id)].first;
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  if (p_.temperature == 0.0f)
    return std::min_element(candidates_.begin(), candidates_.end(), by_logit)->second;

  size_t n = candidates_.size();
  if (p_.top_k > 0 && size_t(p_.top_k) < n) n = size_t(p_.top_k);
  std::partial_sort(candidates_.begin(), candidates_.begin() + long(n), candidates_.end(), by_logit);
  candidates_.resize(n);
  // Softmax at temperature over the survivors, then top-p and min-p cut the tail.
  const float max_logit = candidates_[0].first;
  double total = 0;
  for (auto& [l, id] : candidates_) {
    l = std::exp((l - max_logit) / p_.temperature);
    total += l;
  }
  for (auto& c : candidates_) c.first = float(c.first / total);
  size_t keep = candidates_.size();
  if (p_.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < candidates_.size(); ++i) {
      cum += candidates_[i].first;
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p_.min_p > 0) {
    const float floor = p_.min_p * candidates_[0].first;
    size_t i = 1;
    while (i < keep && candidates_[i].first >= floor) ++i;
    keep = i;
  }
  candidates_.resize(keep);
  double mass = 0;
  for (const auto& c : candidates_) mass += c.first;
  std::uniform_real_distribution<double> uniform(0.0, mass);
  double r = uniform(rng_);
  for (const auto& c : candidates_) {
    r -= c.first;
    if (r <= 0) return c.second;
  }
  return candidates_.back().second;
}

}  // namespace llmr
