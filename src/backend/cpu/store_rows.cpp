// CpuBackend::store_rows: each source row converted into the destination row its position names,
// by the same row kernels as copy (so a stored row equals a copied one bit for bit).
#include <algorithm>

#include "backend/cpu/copy_row.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/simd_kernels.h"
#include "ops/op_checks.h"

namespace llmr {

void CpuBackend::store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions) {
  op_checks::store_rows(src, dst, positions);
  for (const Tensor* t : {&src, &dst, &positions}) op_checks::check_device("store_rows", "tensor", *t, Device::Host);
  const auto* pos = static_cast<const int32_t*>(positions.data);
  for (int64_t t = 0; t < src.rows(); ++t)
    check(pos[t] >= 0 && pos[t] < dst.rows(), "store_rows: position " + std::to_string(pos[t]) + " of row " +
                                                  std::to_string(t) + " is outside dst " + dst.describe());
  const cpu::CopyKernels& kernels = cpu::copy_kernels(cpu::active_level());
  const int64_t n = src.cols();
  pool_.parallel_for(src.rows(), std::max<int64_t>(1, 65536 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
    std::vector<float> scratch;
    for (int64_t r = begin; r < end; ++r)
      cpu::copy_row(kernels, src.type, dst.type, src.row(r), dst.row(pos[r]), n, scratch);
  });
}

}  // namespace llmr
