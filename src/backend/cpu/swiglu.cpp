// CpuBackend::swiglu: rows spread over the pool.
#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/simd_kernels.h"
#include "backend/cpu/simd_vec_scalar.h"
#include "backend/cpu/swiglu_kernel.h"
#include "ops/op_checks.h"

namespace llmr::cpu {

const SwigluKernels& swiglu_kernels(SimdLevel level) {
  static const SwigluKernels scalar = make_swiglu_kernels<VecScalar>();
  return pick_kernels(level, scalar, &swiglu_kernels_avx2, &swiglu_kernels_avx512);
}

void swiglu(ThreadPool& pool, SimdLevel level, const Tensor& gate, const Tensor& up, const Tensor& out) {
  op_checks::swiglu(gate, up, out);
  for (const Tensor* t : {&gate, &up, &out}) op_checks::check_device("swiglu", "tensor", *t, Device::Host);
  const auto kernel = swiglu_kernels(level).row;
  const int64_t n = gate.cols();
  pool.parallel_for(gate.rows(), std::max<int64_t>(1, 32768 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) kernel(gate.row<const float>(r), up.row<const float>(r), out.row<float>(r), n);
  });
}

}  // namespace llmr::cpu

namespace llmr {

void CpuBackend::swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  cpu::swiglu(pool_, cpu::active_level(), gate, up, out);
}

}  // namespace llmr
