#pragma once
// Elementwise f32 kernels over [rows, cols] tensors with their own row strides (add, swiglu): one
// flat pass when every operand is contiguous, else a grid over (column chunk, row); 16-byte accesses
// where every row is aligned. The output may alias an input (each element is read, then written, by
// one thread).
#include <algorithm>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/float_types.cuh"
#include "backend/cuda/pdl.cuh"

namespace llmr::cuda_detail {

struct BinaryRows {
  const char* a;
  const char* b;
  char* out;
  int64_t a_stride, b_stride, out_stride;  // bytes
  int64_t rows, cols;
};

template <typename Op, int VEC>
__global__ void __launch_bounds__(256) binary_rows(BinaryRows p, Op op) {
  using P = Pack<F32, VEC>;
  cuda_ops::pdl_wait();
  cuda_ops::pdl_release();
  const int64_t nv = p.cols / VEC;
  for (int64_t r = blockIdx.y; r < p.rows; r += gridDim.y) {
    const P* a = reinterpret_cast<const P*>(p.a + r * p.a_stride);
    const P* b = reinterpret_cast<const P*>(p.b + r * p.b_stride);
    P* out = reinterpret_cast<P*>(p.out + r * p.out_stride);
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += int64_t(gridDim.x) * blockDim.x) {
      const P va = a[i], vb = b[i];
      P vo;
#pragma unroll
      for (int j = 0; j < VEC; ++j) vo.v[j] = op(va.v[j], vb.v[j]);
      out[i] = vo;
    }
  }
}

// out = op(a, b) elementwise; shapes and types already checked.
template <typename Op>
void launch_binary(CudaBackend& be, const Tensor& a, const Tensor& b, const Tensor& out, Op op, const char* name) {
  const int64_t rows = a.rows(), cols = a.cols();
  if (rows == 0 || cols == 0) return;
  BinaryRows p{static_cast<const char*>(a.data), static_cast<const char*>(b.data), static_cast<char*>(out.data),
               a.row_stride(), b.row_stride(), out.row_stride(), rows, cols};
  const int64_t dense = cols * int64_t(sizeof(float));
  const bool contiguous = rows == 1 || (a.row_stride() == dense && b.row_stride() == dense && out.row_stride() == dense);
  if (contiguous) {  // one long row
    p.cols = rows * cols;
    p.rows = 1;
    p.a_stride = p.b_stride = p.out_stride = 0;
  }
  const bool vector = p.cols % 4 == 0 && (contiguous ? reinterpret_cast<uintptr_t>(a.data) % 16 == 0 &&
                                                           reinterpret_cast<uintptr_t>(b.data) % 16 == 0 &&
                                                           reinterpret_cast<uintptr_t>(out.data) % 16 == 0
                                                     : rows_aligned(a, 16) && rows_aligned(b, 16) && rows_aligned(out, 16));
  const int64_t units = vector ? p.cols / 4 : p.cols;
  constexpr int kThreads = 256;
  const int64_t grid_y = std::min<int64_t>(p.rows, kMaxGridY);
  // Enough blocks to fill every multiprocessor several times over, no more than the work needs.
  const int64_t want_x = std::max<int64_t>(1, int64_t(be.properties().multiProcessorCount) * 16 / grid_y);
  const int64_t grid_x = std::clamp<int64_t>((units + kThreads - 1) / kThreads, 1, std::max<int64_t>(want_x, 1));
  const dim3 grid{unsigned(std::min<int64_t>(grid_x, 1 << 30)), unsigned(grid_y)};
  if (vector)
    cuda_ops::launch_pdl(binary_rows<Op, 4>, grid, dim3(kThreads), 0, be.stream(), name, "binary_rows", p, op);
  else
    cuda_ops::launch_pdl(binary_rows<Op, 1>, grid, dim3(kThreads), 0, be.stream(), name, "binary_rows", p, op);
}

}  // namespace llmr::cuda_detail
