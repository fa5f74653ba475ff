// CpuBackend::copy: type conversion row by row, rows spread over the pool.
#include <algorithm>

#include "backend/cpu/copy_kernel.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/simd_kernels.h"
#include "backend/cpu/simd_vec_scalar.h"
#include "ops/op_checks.h"

namespace llmr::cpu {

const CopyKernels& copy_kernels(SimdLevel level) {
  static const CopyKernels scalar = make_copy_kernels<VecScalar>();
  return pick_kernels(level, scalar, &copy_kernels_avx2, &copy_kernels_avx512);
}

void copy(ThreadPool& pool, SimdLevel level, const Tensor& src, const Tensor& dst) {
  op_checks::copy(src, dst);
  for (const Tensor* t : {&src, &dst}) op_checks::check_device("copy", "tensor", *t, Device::Host);
  const auto kernel = copy_kernels(level).row[float_type_index(src.type)][float_type_index(dst.type)];
  const int64_t n = src.cols();
  pool.parallel_for(src.rows(), std::max<int64_t>(1, 65536 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) kernel(src.row(r), dst.row(r), n);
  });
}

}  // namespace llmr::cpu

namespace llmr {

void CpuBackend::copy(const Tensor& src, const Tensor& dst) { cpu::copy(pool_, cpu::active_level(), src, dst); }

}  // namespace llmr
