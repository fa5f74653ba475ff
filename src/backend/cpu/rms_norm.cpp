// CpuBackend::rms_norm and rms_norm_residual: rows spread over the pool, one kernel call per row.
#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/rms_norm_kernel.h"
#include "backend/cpu/simd_kernels.h"
#include "backend/cpu/simd_vec_scalar.h"
#include "ops/op_checks.h"

namespace llmr::cpu {

const RmsNormKernels& rms_norm_kernels(SimdLevel level) {
  static const RmsNormKernels scalar = make_rms_norm_kernels<VecScalar>();
  return pick_kernels(level, scalar, &rms_norm_kernels_avx2, &rms_norm_kernels_avx512);
}

// Rows per task so each task touches ~32K elements: small rows batch, wide rows split one each.
inline int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(cols, 1)); }

void rms_norm(ThreadPool& pool, SimdLevel level, const Tensor& x, const Tensor& w, float eps, const Tensor& y) {
  op_checks::rms_norm(x, w, eps, y);
  for (const Tensor* t : {&x, &w, &y}) op_checks::check_device("rms_norm", "tensor", *t, Device::Host);
  const auto kernel = rms_norm_kernels(level).row[float_type_index(x.type)];
  const float* wr = w.row<const float>(0);
  const int64_t n = x.cols();
  pool.parallel_for(x.rows(), row_grain(n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) kernel(x.row(r), wr, y.row(r), n, eps);
  });
}

void rms_norm_residual(ThreadPool& pool, SimdLevel level, const Tensor& x, const Tensor& residual,
                       const Tensor& w, float eps, const Tensor& sum, const Tensor& y) {
  op_checks::rms_norm_residual(x, residual, w, eps, sum, y);
  for (const Tensor* t : {&x, &residual, &w, &sum, &y})
    op_checks::check_device("rms_norm_residual", "tensor", *t, Device::Host);
  const auto kernel = rms_norm_kernels(level).residual_row[float_type_index(x.type)];
  const float* wr = w.row<const float>(0);
  const int64_t n = x.cols();
  pool.parallel_for(x.rows(), row_grain(n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) kernel(x.row(r), residual.row(r), wr, sum.row(r), y.row(r), n, eps);
  });
}

}  // namespace llmr::cpu

namespace llmr {

void CpuBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) {
  cpu::rms_norm(pool_, cpu::active_level(), x, w, eps, y);
}

void CpuBackend::rms_norm_residual(const Tensor& x, const Tensor& residual, const Tensor& w, float eps,
                                   const Tensor& sum, const Tensor& y) {
  cpu::rms_norm_residual(pool_, cpu::active_level(), x, residual, w, eps, sum, y);
}

}  // namespace llmr
