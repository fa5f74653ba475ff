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

namespace {

// Candidates ordered best first: higher logit, then lower id.
bool better(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// The k best (logit, id) pairs, best first, in one pass over the logits with a k-entry heap whose
// front is the worst kept: a vocabulary of 128k costs one compare per logit, not a sort.
void top_k(std::span<const float> logits, size_t k, std::vector<std::pair<float, int32_t>>& out) {
  out.clear();
  for (size_t i = 0; i < k; ++i) out.push_back({logits[i], int32_t(i)});
  std::make_heap(out.begin(), out.end(), better);
  for (size_t i = k; i < logits.size(); ++i) {
    if (!(logits[i] > out.front().first)) continue;  // ties keep the lower id already held
    std::pop_heap(out.begin(), out.end(), better);
    out.back() = {logits[i], int32_t(i)};
    std::push_heap(out.begin(), out.end(), better);
  }
  std::sort_heap(out.begin(), out.end(), better);
}

}  // namespace

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  if (p_.repeat_penalty != 1.0f && p_.repeat_last_n > 0) {
    // As llama.cpp: positive logits are divided by the penalty, negative ones multiplied.
    penalized_.assign(logits.begin(), logits.end());
    std::unordered_set<int32_t> seen;
    const size_t n = std::min(history.size(), size_t(p_.repeat_last_n));
    for (size_t i = history.size() - n; i < history.size(); ++i) seen.insert(history[i]);
    for (int32_t id : seen) {
      if (id < 0 || size_t(id) >= penalized_.size()) continue;
      float& l = penalized_[size_t(id)];
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
    logits = penalized_;
  }
  if (p_.temperature == 0.0f) return argmax(logits);

  size_t n = logits.size();
  if (p_.top_k > 0 && size_t(p_.top_k) < n) n = size_t(p_.top_k);
  if (n < logits.size()) {
    top_k(logits, n, candidates_);
  } else {
    candidates_.resize(n);
    for (size_t i = 0; i < n; ++i) candidates_[i] = {logits[i], int32_t(i)};
    std::sort(candidates_.begin(), candidates_.end(), better);
  }
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
