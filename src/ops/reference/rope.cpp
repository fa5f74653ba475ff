#include <cmath>

#include "ops/op_checks.h"
#include "ops/reference/element_access.h"
#include "ops/reference/reference_backend.h"

namespace llmr {

void ReferenceBackend::rope(const Tensor& x, int n_heads, std::span<const int32_t> positions,
                            const RopeSpec& spec) {
  op_checks::rope(x, n_heads, positions, spec);
  reference_detail::check_host("rope", {&x});
  const int half = spec.rot_dims / 2;
  for (int64_t t = 0; t < x.rows(); ++t) {
    float* row = x.row<float>(t);
    for (int i = 0; i < half; ++i) {
      // The angle is formed in float (as every backend does), then cos/sin in double.
      const float angle = float(positions[t]) * spec.inv_freq[i];
      const double c = std::cos(double(angle)), s = std::sin(double(angle));
      for (int h = 0; h < n_heads; ++h) {
        float* head = row + int64_t(h) * spec.head_dim;
        const int a = spec.layout == RopeLayout::Interleaved ? 2 * i : i;
        const int b = spec.layout == RopeLayout::Interleaved ? 2 * i + 1 : i + half;
        const double x0 = head[a], x1 = head[b];
        head[a] = float(x0 * c - x1 * s);
        head[b] = float(x0 * s + x1 * c);
      }
    }
  }
}

}  // namespace llmr
