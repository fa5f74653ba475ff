#include <cmath>
#include <vector>

#include "ops/op_checks.h"
#include "ops/reference/element_access.h"
#include "ops/reference/reference_backend.h"

namespace llmr {
using namespace reference_detail;

void ReferenceBackend::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                 std::span<const int32_t> positions, const AttentionSpec& spec,
                                 const Tensor& out) {
  op_checks::attention(q, k_cache, v_cache, positions, spec, out);
  check_host("attention", {&q, &k_cache, &v_cache, &out});
  const int hd = spec.head_dim, group = spec.n_head / spec.n_kv_head;
  std::vector<double> score;
  std::vector<double> acc(static_cast<size_t>(hd));
  for (int64_t t = 0; t < q.rows(); ++t) {
    const int64_t n_keys = int64_t(positions[t]) + 1;
    score.resize(size_t(n_keys));
    for (int h = 0; h < spec.n_head; ++h) {
      const int64_t qc = int64_t(h) * hd, kc = int64_t(h / group) * hd;
      double max_score = -INFINITY;
      for (int64_t j = 0; j < n_keys; ++j) {
        double dot = 0;
        for (int d = 0; d < hd; ++d) dot += double(q.row<const float>(t)[qc + d]) * load_element(k_cache, j, kc + d);
        score[j] = dot * double(spec.scale);
        max_score = std::max(max_score, score[j]);
      }
      double total = 0;
      for (int64_t j = 0; j < n_keys; ++j) total += (score[j] = std::exp(score[j] - max_score));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < n_keys; ++j)
        for (int d = 0; d < hd; ++d) acc[d] += score[j] * load_element(v_cache, j, kc + d);
      for (int d = 0; d < hd; ++d) out.row<float>(t)[qc + d] = float(acc[d] / total);
    }
  }
}

}  // namespace llmr
