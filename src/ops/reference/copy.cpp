#include "ops/op_checks.h"
#include "ops/reference/element_access.h"
#include "ops/reference/reference_backend.h"

namespace llmr {
using namespace reference_detail;

void ReferenceBackend::copy(const Tensor& src, const Tensor& dst) {
  op_checks::copy(src, dst);
  check_host("copy", {&src, &dst});
  for (int64_t r = 0; r < src.rows(); ++r)
    for (int64_t c = 0; c < src.cols(); ++c) store_element(dst, r, c, load_element(src, r, c));
}

}  // namespace llmr
