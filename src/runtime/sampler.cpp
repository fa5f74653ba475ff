#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "core/error.h"
#include "ops/backend.h"

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

SampleRow Sampler::next_row() {
  SampleRow row{p_.temperature, p_.top_k, p_.top_p, p_.min_p, 0.0};
  // One draw per non-greedy token; std::uniform_real_distribution<double>(0, mass) is exactly
  // mass * generate_canonical, so sample_row's r = u * mass keeps the choices of earlier versions.
  if (row.temperature != 0.0f) row.u = std::generate_canonical<double, 53>(rng_);
  return row;
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  if (!backend_can_sample()) {
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
  return row_sampler_.sample(logits, next_row());
}

int32_t sample_next(Sampler& sampler, Backend& backend, const Tensor& logits, std::span<const int32_t> history) {
  if (logits.device == Device::Host) return sampler.sample({logits.row<float>(0), size_t(logits.cols())}, history);
  check(sampler.backend_can_sample(), "sampler: logits outside host memory, and a repetition penalty to apply");
  const SampleRow row = sampler.next_row();
  int32_t next = 0;
  backend.sample(logits.slice_rows(0, 1), {&row, 1}, {&next, 1});
  return next;
}

}  // namespace llmr
