#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "core/error.h"
#include "runtime/sampler_math.h"

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
  // The largest value in a branch-free pass (vectorizes), then its first index: std::max_element's
  // compare-and-branch chain measured 40% of a 128k-token draw.
  if (logits.empty()) return 0;
  float best = logits[0];
  for (float l : logits) best = l > best ? l : best;
  for (size_t i = 0; i < logits.size(); ++i)
    if (logits[i] == best) return int32_t(i);
  return 0;  // only NaN logits
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
  const size_t n = logits.size();

  // 1. Candidates: the top_k best, or every token (then nothing is sorted unless top-p needs it).
  const bool all = !(p_.top_k > 0 && size_t(p_.top_k) < n);
  if (!all) top_k(logits, size_t(p_.top_k), candidates_);
  const int32_t best_id = all ? argmax(logits) : candidates_[0].second;
  const float max_logit = all ? logits[size_t(best_id)] : candidates_[0].first;

  // 2. Softmax at temperature over the candidates, summed in id order.
  auto weight = [&](float l) { return sampler_math::exp_nonpositive((l - max_logit) / p_.temperature); };
  if (all) {
    probs_.resize(n);
    // Locals and raw pointers: nothing the stores could alias, so these loops vectorize.
    const float t = p_.temperature, m = max_logit, *in = logits.data();
    float* out = probs_.data();
    for (size_t i = 0; i < n; ++i) out[i] = sampler_math::exp_nonpositive((in[i] - m) / t);
    const auto inv = float(1.0 / sampler_math::sum(probs_));
    for (size_t i = 0; i < n; ++i) out[i] *= inv;
  } else {
    std::vector<std::pair<int32_t, float>> by_id;
    for (const auto& c : candidates_) by_id.push_back({c.second, weight(c.first)});
    std::sort(by_id.begin(), by_id.end());
    std::vector<float> weights;
    for (const auto& [id, e] : by_id) weights.push_back(e);
    const auto inv = float(1.0 / sampler_math::sum(weights));
    for (auto& c : candidates_) c.first = weight(c.first) * inv;
  }
  auto prob = [&](const std::pair<float, int32_t>& c) { return all ? probs_[size_t(c.second)] : c.first; };

  // 3. Top-p: the shortest best-first prefix holding top_p of the mass. Over every token, the best
  // 1024 are selected first and all of them sorted only when those do not reach top_p.
  bool cut = !all;  // whether candidates_ lists the kept tokens, best first
  if (p_.top_p < 1.0f) {
    auto prefix = [&]() -> size_t {
      double cum = 0;
      for (size_t i = 0; i < candidates_.size(); ++i)
        if ((cum += prob(candidates_[i])) >= p_.top_p) return i + 1;
      return 0;
    };
    if (all) top_k(logits, std::min<size_t>(n, 1024), candidates_);
    size_t keep = prefix();
    if (keep == 0 && all && candidates_.size() < n) {
      top_k(logits, n, candidates_);
      keep = prefix();
    }
    if (keep > 0) candidates_.resize(keep);
    cut = true;
  }

  // 4. Min-p: tokens below min_p times the best one's probability leave (the best always stays).
  kept_.clear();
  const float floor = p_.min_p * (all ? probs_[size_t(best_id)] : candidates_[0].first);
  if (cut) {
    for (size_t i = 0; i < candidates_.size(); ++i) {
      const float q = prob(candidates_[i]);
      if (i > 0 && p_.min_p > 0 && q < floor) break;  // best first: every later one is below it too
      kept_.push_back({candidates_[i].second, q});
    }
  } else if (p_.min_p > 0) {
    for (size_t i = 0; i < n; ++i)
      if (int32_t(i) == best_id || probs_[i] >= floor) kept_.push_back({int32_t(i), probs_[i]});
  } else {  // nothing cut: the draw walks probs_ itself
    const double mass = sampler_math::sum(probs_);
    double r = std::uniform_real_distribution<double>(0.0, mass)(rng_);
    for (size_t i = 0; i < n; ++i)
      if ((r -= probs_[i]) <= 0) return int32_t(i);
    return int32_t(n - 1);
  }

  // 5. The draw: kept tokens walked in id order.
  std::sort(kept_.begin(), kept_.end());
  double mass = 0;
  for (const auto& [id, q] : kept_) mass += q;
  double r = std::uniform_real_distribution<double>(0.0, mass)(rng_);
  for (const auto& [id, q] : kept_)
    if ((r -= q) <= 0) return id;
  return kept_.back().first;
}

}  // namespace llmr
