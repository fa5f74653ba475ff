// CpuBackend::copy: type conversion row by row, rows spread over the pool.
#include <algorithm>
#include <cstring>

#include "backend/cpu/copy_kernel.h"
#include "backend/cpu/copy_row.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/simd_kernels.h"
#include "backend/cpu/simd_vec_scalar.h"
#include "ops/op_checks.h"
#include "tensor/quant.h"

namespace llmr::cpu {

const CopyKernels& copy_kernels(SimdLevel level) {
  static const CopyKernels scalar = make_copy_kernels<VecScalar>();
  return pick_kernels(level, scalar, &copy_kernels_avx2, &copy_kernels_avx512);
}

void copy_row(const CopyKernels& kernels, DType src_type, DType dst_type, const void* src, void* dst, int64_t n,
              std::vector<float>& scratch) {
  if (src_type != DType::Q8_0 && dst_type != DType::Q8_0)
    return kernels.row[float_type_index(src_type)][float_type_index(dst_type)](src, dst, n);
  if (src_type == dst_type) {  // q8_0 blocks move as they are
    std::memcpy(dst, src, row_bytes(src_type, n));
    return;
  }
  scratch.resize(size_t(n));
  if (src_type == DType::Q8_0) {
    dequantize_row(src_type, src, scratch.data(), n);
    return kernels.row[0][float_type_index(dst_type)](scratch.data(), dst, n);
  }
  kernels.row[float_type_index(src_type)][0](src, scratch.data(), n);
  quantize_row(dst_type, scratch.data(), dst, n);
}

void copy(ThreadPool& pool, SimdLevel level, const Tensor& src, const Tensor& dst) {
  op_checks::copy(src, dst);
  for (const Tensor* t : {&src, &dst}) op_checks::check_device("copy", "tensor", *t, Device::Host);
  const CopyKernels& kernels = copy_kernels(level);
  const int64_t n = src.cols();
  pool.parallel_for(src.rows(), std::max<int64_t>(1, 65536 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
    std::vector<float> scratch;
    for (int64_t r = begin; r < end; ++r) copy_row(kernels, src.type, dst.type, src.row(r), dst.row(r), n, scratch);
  });
}

}  // namespace llmr::cpu

namespace llmr {

void CpuBackend::copy(const Tensor& src, const Tensor& dst) { cpu::copy(pool_, cpu::active_level(), src, dst); }

}  // namespace llmr
