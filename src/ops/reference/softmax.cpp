#include <cmath>
#include <vector>

#include "ops/op_checks.h"
#include "ops/reference/element_access.h"
#include "ops/reference/reference_backend.h"

namespace llmr {

void ReferenceBackend::softmax(const Tensor& x) {
  op_checks::softmax(x);
  reference_detail::check_host("softmax", {&x});
  std::vector<double> e(size_t(x.cols()));
  for (int64_t r = 0; r < x.rows(); ++r) {
    float* row = x.row<float>(r);
    double max_v = -INFINITY, total = 0;
    for (int64_t c = 0; c < x.cols(); ++c) max_v = std::max(max_v, double(row[c]));
    for (int64_t c = 0; c < x.cols(); ++c) total += (e[c] = std::exp(double(row[c]) - max_v));
    for (int64_t c = 0; c < x.cols(); ++c) row[c] = float(e[c] / total);
  }
}

}  // namespace llmr
