#include "ops/op_checks.h"
#include "ops/reference/element_access.h"
#include "ops/reference/reference_backend.h"

namespace llmr {

void ReferenceBackend::add(const Tensor& a, const Tensor& b, const Tensor& out) {
  op_checks::add(a, b, out);
  reference_detail::check_host("add", {&a, &b, &out});
  for (int64_t r = 0; r < a.rows(); ++r)
    for (int64_t c = 0; c < a.cols(); ++c) out.row<float>(r)[c] = a.row<const float>(r)[c] + b.row<const float>(r)[c];
}

}  // namespace llmr
