#include <vector>

#include "ops/op_checks.h"
#include "ops/reference/element_access.h"
#include "ops/reference/reference_backend.h"

namespace llmr {
using namespace reference_detail;

void ReferenceBackend::store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions) {
  op_checks::store_rows(src, dst, positions);
  check_host("store_rows", {&src, &dst, &positions});
  const auto* pos = static_cast<const int32_t*>(positions.data);
  std::vector<float> row(size_t(src.cols()));
  for (int64_t t = 0; t < src.rows(); ++t) {
    check(pos[t] >= 0 && pos[t] < dst.rows(), "store_rows: position " + std::to_string(pos[t]) + " of row " +
                                                  std::to_string(t) + " is outside dst " + dst.describe());
    for (int64_t c = 0; c < src.cols(); ++c) row[size_t(c)] = load_element(src, t, c);
    store_row(dst, pos[t], row.data());
  }
}

}  // namespace llmr
