#include <cstring>
#include <vector>

#include "ops/op_checks.h"
#include "ops/reference/element_access.h"
#include "ops/reference/reference_backend.h"

namespace llmr {
using namespace reference_detail;

void ReferenceBackend::copy(const Tensor& src, const Tensor& dst) {
  op_checks::copy(src, dst);
  check_host("copy", {&src, &dst});
  std::vector<float> row(size_t(src.cols()));
  for (int64_t r = 0; r < src.rows(); ++r) {
    if (src.type == dst.type && src.type == DType::Q8_0) {  // blocks as they are, not requantized
      std::memcpy(dst.row<void>(r), src.row<const void>(r), row_bytes(src.type, src.cols()));
      continue;
    }
    for (int64_t c = 0; c < src.cols(); ++c) row[size_t(c)] = load_element(src, r, c);
    store_row(dst, r, row.data());
  }
}

}  // namespace llmr
