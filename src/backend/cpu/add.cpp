// CpuBackend::add: rows spread over the pool.
#include <algorithm>

#include "backend/cpu/add_kernel.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/simd_kernels.h"
#include "backend/cpu/simd_vec_scalar.h"
#include "ops/op_checks.h"

namespace llmr::cpu {

const AddKernels& add_kernels(SimdLevel level) {
  static const AddKernels scalar = make_add_kernels<VecScalar>();
  return pick_kernels(level, scalar, &add_kernels_avx2, &add_kernels_avx512);
}

void add(ThreadPool& pool, SimdLevel level, const Tensor& a, const Tensor& b, const Tensor& out) {
  op_checks::add(a, b, out);
  for (const Tensor* t : {&a, &b, &out}) op_checks::check_device("add", "tensor", *t, Device::Host);
  const auto kernel = add_kernels(level).row;
  const int64_t n = a.cols();
  pool.parallel_for(a.rows(), std::max<int64_t>(1, 65536 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) kernel(a.row<const float>(r), b.row<const float>(r), out.row<float>(r), n);
  });
}

}  // namespace llmr::cpu

namespace llmr {

void CpuBackend::add(const Tensor& a, const Tensor& b, const Tensor& out) {
  cpu::add(pool_, cpu::active_level(), a, b, out);
}

}  // namespace llmr
