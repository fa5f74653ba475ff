#include <cmath>

#include "ops/op_checks.h"
#include "ops/reference/element_access.h"
#include "ops/reference/reference_backend.h"

namespace llmr {

void ReferenceBackend::swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  op_checks::swiglu(gate, up, out);
  reference_detail::check_host("swiglu", {&gate, &up, &out});
  for (int64_t r = 0; r < gate.rows(); ++r)
    for (int64_t c = 0; c < gate.cols(); ++c) {
      const double g = gate.row<const float>(r)[c], u = up.row<const float>(r)[c];
      out.row<float>(r)[c] = float(g / (1.0 + std::exp(-g)) * u);
    }
}

}  // namespace llmr
