// CudaBackend::copy: dst = src converted (f32 <-> f16 <-> bf16, round to nearest even), rows strided.
// Same-type copies are a 2-D device memcpy; conversions a grid over (column chunk, row) with 4-element
// accesses where every row is aligned. q8_0 (the quantized KV cache): rows quantized a warp per block
// (store_rows.cu's kernel), or read back one element per thread.
#include <algorithm>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/float_types.cuh"
#include "backend/cuda/kv_q8.cuh"
#include "ops/op_checks.h"

namespace llmr {
namespace cuda_detail {
namespace {

struct CopyRows {
  const char* src;
  char* dst;
  int64_t src_stride, dst_stride, rows, cols;
};

template <typename S, typename D, int VEC>
__global__ void __launch_bounds__(256) convert_rows(CopyRows p) {
  const int64_t nv = p.cols / VEC;
  for (int64_t r = blockIdx.y; r < p.rows; r += gridDim.y) {
    const auto* src = reinterpret_cast<const Pack<S, VEC>*>(p.src + r * p.src_stride);
    auto* dst = reinterpret_cast<Pack<D, VEC>*>(p.dst + r * p.dst_stride);
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += int64_t(gridDim.x) * blockDim.x) {
      const Pack<S, VEC> in = src[i];
      Pack<D, VEC> out;
#pragma unroll
      for (int j = 0; j < VEC; ++j) out.v[j] = D::store(S::load(in.v[j]));
      dst[i] = out;
    }
  }
}

template <typename S, typename D>
void launch_convert(CudaBackend& be, const Tensor& src, const Tensor& dst) {
  CopyRows p{static_cast<const char*>(src.data), static_cast<char*>(dst.data), src.row_stride(), dst.row_stride(),
             src.rows(), src.cols()};
  const bool flat = src.is_contiguous() && dst.is_contiguous();
  if (flat) {  // one long row
    p.cols *= p.rows;
    p.rows = 1;
  }
  constexpr int kVec = 4;
  const int64_t s_align = int64_t(sizeof(typename S::Storage)) * kVec, d_align = int64_t(sizeof(typename D::Storage)) * kVec;
  const bool vector = p.cols % kVec == 0 &&
                      (flat ? reinterpret_cast<uintptr_t>(src.data) % s_align == 0 && reinterpret_cast<uintptr_t>(dst.data) % d_align == 0
                            : rows_aligned(src, s_align) && rows_aligned(dst, d_align));
  const int64_t units = vector ? p.cols / kVec : p.cols;
  constexpr int kThreads = 256;
  const int64_t grid_y = std::min<int64_t>(p.rows, kMaxGridY);
  const int64_t want_x = std::max<int64_t>(1, int64_t(be.properties().multiProcessorCount) * 16 / grid_y);
  const int64_t grid_x = std::clamp<int64_t>((units + kThreads - 1) / kThreads, 1, want_x);
  const dim3 grid{unsigned(grid_x), unsigned(grid_y)};
  if (vector)
    convert_rows<S, D, kVec><<<grid, kThreads, 0, be.stream()>>>(p);
  else
    convert_rows<S, D, 1><<<grid, kThreads, 0, be.stream()>>>(p);
  check_launch("copy", "convert_rows");
}

// dst (float type D) = the q8_0 rows of src, element by element.
template <typename D>
__global__ void __launch_bounds__(256) dequantize_q8_rows(CopyRows p) {
  for (int64_t r = blockIdx.y; r < p.rows; r += gridDim.y) {
    auto* dst = reinterpret_cast<typename D::Storage*>(p.dst + r * p.dst_stride);
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.cols; i += int64_t(gridDim.x) * blockDim.x)
      dst[i] = D::store(q8_element(p.src + r * p.src_stride, i));
  }
}

template <typename D>
void launch_dequantize_q8(CudaBackend& be, const Tensor& src, const Tensor& dst) {
  const CopyRows p{static_cast<const char*>(src.data), static_cast<char*>(dst.data), src.row_stride(),
                   dst.row_stride(), src.rows(), src.cols()};
  constexpr int kThreads = 256;
  const int64_t grid_y = std::min<int64_t>(p.rows, kMaxGridY);
  const int64_t grid_x = std::clamp<int64_t>((p.cols + kThreads - 1) / kThreads, 1, 1024);
  dequantize_q8_rows<D><<<dim3{unsigned(grid_x), unsigned(grid_y)}, kThreads, 0, be.stream()>>>(p);
  check_launch("copy", "dequantize_q8_rows");
}

}  // namespace
}  // namespace cuda_detail

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  using namespace cuda_detail;
  op_checks::copy(src, dst);
  check_on_device("copy", {{"src", &src}, {"dst", &dst}});
  const int64_t rows = src.rows(), cols = src.cols();
  if (rows == 0 || cols == 0) return;
  if (src.type == dst.type) {
    if (src.data == dst.data && src.row_stride() == dst.row_stride()) return;  // already there
    const size_t width = row_bytes(src.type, cols);
    const size_t spitch = std::max<size_t>(size_t(src.row_stride()), width);
    const size_t dpitch = std::max<size_t>(size_t(dst.row_stride()), width);
    cuda_check(cudaMemcpy2DAsync(dst.data, dpitch, src.data, spitch, width, size_t(rows), cudaMemcpyDeviceToDevice,
                                 stream()),
               "copy", "cudaMemcpy2DAsync");
    return;
  }
  if (dst.type == DType::Q8_0) return quantize_rows_q8(src, dst, nullptr, stream(), "copy");
  if (src.type == DType::Q8_0) {
    dispatch_float_type(dst.type, [&](auto d) { launch_dequantize_q8<decltype(d)>(*this, src, dst); });
    return;
  }
  dispatch_float_type(src.type, [&](auto s) {
    dispatch_float_type(dst.type, [&](auto d) {
      if constexpr (!std::is_same_v<decltype(s), decltype(d)>) launch_convert<decltype(s), decltype(d)>(*this, src, dst);
    });
  });
}

}  // namespace llmr
