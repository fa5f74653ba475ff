// CpuBackend::softmax: rows spread over the pool.
#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/simd_kernels.h"
#include "backend/cpu/simd_vec_scalar.h"
#include "backend/cpu/softmax_kernel.h"
#include "ops/op_checks.h"

namespace llmr::cpu {

const SoftmaxKernels& softmax_kernels(SimdLevel level) {
  static const SoftmaxKernels scalar = make_softmax_kernels<VecScalar>();
  return pick_kernels(level, scalar, &softmax_kernels_avx2, &softmax_kernels_avx512);
}

void softmax(ThreadPool& pool, SimdLevel level, const Tensor& x) {
  op_checks::softmax(x);
  op_checks::check_device("softmax", "x", x, Device::Host);
  const auto kernel = softmax_kernels(level).row;
  const int64_t n = x.cols();
  pool.parallel_for(x.rows(), std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) kernel(x.row<float>(r), n);
  });
}

}  // namespace llmr::cpu

namespace llmr {

void CpuBackend::softmax(const Tensor& x) { cpu::softmax(pool_, cpu::active_level(), x); }

}  // namespace llmr
