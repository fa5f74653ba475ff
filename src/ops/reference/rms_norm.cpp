#include <cmath>
#include <vector>

#include "ops/op_checks.h"
#include "ops/reference/element_access.h"
#include "ops/reference/reference_backend.h"

namespace llmr {
using namespace reference_detail;

namespace {
// One row in double: the sum of squares of any float row neither overflows nor underflows.
void normalize_row(const std::vector<double>& v, const Tensor& w, float eps, const Tensor& y, int64_t r) {
  const int64_t n = int64_t(v.size());
  double ss = 0;
  for (double e : v) ss += e * e;
  const double inv = 1.0 / std::sqrt(ss / double(n) + double(eps));
  const float* wr = w.row<const float>(0);
  for (int64_t c = 0; c < n; ++c) store_element(y, r, c, float(v[c] * inv * double(wr[c])));
}
}  // namespace

void ReferenceBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) {
  op_checks::rms_norm(x, w, eps, y);
  check_host("rms_norm", {&x, &w, &y});
  std::vector<double> v(size_t(x.cols()));
  for (int64_t r = 0; r < x.rows(); ++r) {
    for (int64_t c = 0; c < x.cols(); ++c) v[c] = load_element(x, r, c);
    normalize_row(v, w, eps, y, r);
  }
}

void ReferenceBackend::rms_norm_residual(const Tensor& x, const Tensor& residual, const Tensor& w,
                                         float eps, const Tensor& sum, const Tensor& y) {
  op_checks::rms_norm_residual(x, residual, w, eps, sum, y);
  check_host("rms_norm_residual", {&x, &residual, &w, &sum, &y});
  std::vector<double> v(size_t(x.cols()));
  for (int64_t r = 0; r < x.rows(); ++r) {
    for (int64_t c = 0; c < x.cols(); ++c) {
      // The float sum rounded to the stored type: the norm is of the sum as stored.
      const float s = round_to(sum.type, load_element(x, r, c) + load_element(residual, r, c));
      store_element(sum, r, c, s);
      v[c] = s;
    }
    normalize_row(v, w, eps, y, r);
  }
}

}  // namespace llmr
