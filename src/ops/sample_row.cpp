#include "ops/sample_row.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "ops/sample_math.h"

namespace llmr {

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

int32_t RowSampler::sample(std::span<const float> logits, const SampleRow& row) {
  if (row.temperature == 0.0f) return argmax(logits);
  const size_t n = logits.size();

  // 1. Candidates: the top_k best, or every token (then nothing is sorted unless top-p needs it).
  const bool all = !(row.top_k > 0 && size_t(row.top_k) < n);
  if (!all) top_k(logits, size_t(row.top_k), candidates_);
  const int32_t best_id = all ? argmax(logits) : candidates_[0].second;
  const float max_logit = all ? logits[size_t(best_id)] : candidates_[0].first;

  // 2. Softmax at temperature over the candidates, summed in id order.
  auto weight = [&](float l) { return sample_math::exp_nonpositive((l - max_logit) / row.temperature); };
  if (all) {
    probs_.resize(n);
    // Locals and raw pointers: nothing the stores could alias, so these loops vectorize.
    const float t = row.temperature, m = max_logit, *in = logits.data();
    float* out = probs_.data();
    for (size_t i = 0; i < n; ++i) out[i] = sample_math::exp_nonpositive((in[i] - m) / t);
    const auto inv = float(1.0 / sample_math::sum(probs_));
    for (size_t i = 0; i < n; ++i) out[i] *= inv;
  } else {
    std::vector<std::pair<int32_t, float>> by_id;
    for (const auto& c : candidates_) by_id.push_back({c.second, weight(c.first)});
    std::sort(by_id.begin(), by_id.end());
    std::vector<float> weights;
    for (const auto& [id, e] : by_id) weights.push_back(e);
    const auto inv = float(1.0 / sample_math::sum(weights));
    for (auto& c : candidates_) c.first = weight(c.first) * inv;
  }
  auto prob = [&](const std::pair<float, int32_t>& c) { return all ? probs_[size_t(c.second)] : c.first; };

  // 3. Top-p: the shortest best-first prefix holding top_p of the mass. Over every token, the best
  // 1024 are selected first and all of them sorted only when those do not reach top_p.
  bool cut = !all;  // whether candidates_ lists the kept tokens, best first
  if (row.top_p < 1.0f) {
    auto prefix = [&]() -> size_t {
      double cum = 0;
      for (size_t i = 0; i < candidates_.size(); ++i)
        if ((cum += prob(candidates_[i])) >= row.top_p) return i + 1;
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
  const float floor = row.min_p * (all ? probs_[size_t(best_id)] : candidates_[0].first);
  if (cut) {
    for (size_t i = 0; i < candidates_.size(); ++i) {
      const float q = prob(candidates_[i]);
      if (i > 0 && row.min_p > 0 && q < floor) break;  // best first: every later one is below it too
      kept_.push_back({candidates_[i].second, q});
    }
  } else if (row.min_p > 0) {
    for (size_t i = 0; i < n; ++i)
      if (int32_t(i) == best_id || probs_[i] >= floor) kept_.push_back({int32_t(i), probs_[i]});
  } else {  // nothing cut: the draw walks probs_ itself
    double r = row.u * sample_math::sum(probs_);
    for (size_t i = 0; i < n; ++i)
      if ((r -= probs_[i]) <= 0) return int32_t(i);
    return int32_t(n - 1);
  }

  // 5. The draw: kept tokens walked in id order.
  std::sort(kept_.begin(), kept_.end());
  double mass = 0;
  for (const auto& [id, q] : kept_) mass += q;
  double r = row.u * mass;
  for (const auto& [id, q] : kept_)
    if ((r -= q) <= 0) return id;
  return kept_.back().first;
}

void op_checks::sample(const Tensor& logits, std::span<const SampleRow> rows, std::span<const int32_t> out) {
  check(logits.type == DType::F32 && logits.ndim == 2,
        "sample: logits " + logits.describe() + " must be f32 [rows, vocab]");
  check(logits.cols() > 0, "sample: logits " + logits.describe() + " have an empty vocabulary");
  check(logits.cols() <= INT32_MAX, "sample: logits " + logits.describe() + " have more tokens than int32 ids");
  check(int64_t(rows.size()) == logits.rows() && rows.size() == out.size(),
        "sample: logits " + logits.describe() + " have " + std::to_string(logits.rows()) + " rows, the settings " +
            std::to_string(rows.size()) + " and the output " + std::to_string(out.size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    const SampleRow& r = rows[i];
    const std::string at = "sample: row " + std::to_string(i) + ": ";
    check(std::isfinite(r.temperature) && r.temperature >= 0, at + "temperature must be >= 0");
    check(r.top_k >= 0, at + "top-k must be >= 0");
    check(r.top_p > 0 && r.top_p <= 1, at + "top-p must be in (0, 1]");
    check(r.min_p >= 0 && r.min_p < 1, at + "min-p must be in [0, 1)");
    check(r.u >= 0 && r.u < 1, at + "the uniform draw u must be in [0, 1)");
  }
}

}  // namespace llmr
