// CudaBackend::store_rows: dst[positions[t]] = src[t] converted, the positions read from device memory
// when the kernel runs (a replayed graph writes each step's KV row where that step's position says).
// A grid over (column chunk, source row); a position outside dst leaves dst untouched (kernels cannot
// throw: the host-side callers check positions against the cache's capacity before writing them).
// A q8_0 destination (the quantized KV cache) is written a warp per 32-element block.
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

struct StoreRows {
  const char* src;
  char* dst;
  const int32_t* positions;
  int64_t src_stride, dst_stride, dst_rows, rows, cols;
};

// Each warp quantizes whole 32-element blocks of a row into dst's q8_0 row. positions == null: row r
// goes to row r (copy into a q8_0 tensor).
template <typename S>
__global__ void __launch_bounds__(256) store_rows_q8_kernel(StoreRows p) {
  const int lane = threadIdx.x & 31, warps = blockDim.x / 32;
  const int64_t n_blocks = p.cols / kQ8Block;
  for (int64_t r = blockIdx.y; r < p.rows; r += gridDim.y) {
    const int64_t pos = p.positions ? p.positions[r] : r;
    if (pos < 0 || pos >= p.dst_rows) continue;  // uniform over the block: its warps stay whole
    const auto* src = reinterpret_cast<const typename S::Storage*>(p.src + r * p.src_stride);
    char* dst = p.dst + pos * p.dst_stride;
    for (int64_t b = int64_t(blockIdx.x) * warps + threadIdx.x / 32; b < n_blocks; b += int64_t(gridDim.x) * warps)
      quantize_q8_block(S::load(src[b * kQ8Block + lane]), lane, dst + b * kQ8BlockBytes);
  }
}

template <typename S, typename D>
__global__ void __launch_bounds__(256) store_rows_kernel(StoreRows p) {
  for (int64_t r = blockIdx.y; r < p.rows; r += gridDim.y) {
    const int64_t pos = p.positions[r];
    if (pos < 0 || pos >= p.dst_rows) continue;
    const auto* src = reinterpret_cast<const typename S::Storage*>(p.src + r * p.src_stride);
    auto* dst = reinterpret_cast<typename D::Storage*>(p.dst + pos * p.dst_stride);
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.cols; i += int64_t(gridDim.x) * blockDim.x)
      dst[i] = D::store(S::load(src[i]));
  }
}

}  // namespace

void quantize_rows_q8(const Tensor& src, const Tensor& dst, const int32_t* positions, cudaStream_t stream,
                      const char* op) {
  const StoreRows p{static_cast<const char*>(src.data), static_cast<char*>(dst.data), positions, src.row_stride(),
                    dst.row_stride(), dst.rows(), src.rows(), src.cols()};
  const DType src_type = src.type;
  constexpr int kThreads = 256, kWarps = kThreads / 32;
  const int64_t blocks = p.cols / kQ8Block;
  const int64_t grid_y = std::min<int64_t>(p.rows, kMaxGridY);
  const int64_t grid_x = std::clamp<int64_t>((blocks + kWarps - 1) / kWarps, 1, 1024);
  const dim3 grid{unsigned(grid_x), unsigned(grid_y)};
  const bool known = dispatch_float_type(src_type, [&](auto s) {
    store_rows_q8_kernel<decltype(s)><<<grid, kThreads, 0, stream>>>(p);
  });
  check(known, std::string(op) + ": no CUDA kernel quantizes " + name(src_type) + " rows into q8_0");
  check_launch(op, "store_rows_q8_kernel");
}

}  // namespace cuda_detail

void CudaBackend::store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions) {
  using namespace cuda_detail;
  op_checks::store_rows(src, dst, positions);
  check_on_device("store_rows", {{"src", &src}, {"dst", &dst}, {"positions", &positions}});
  const int64_t rows = src.rows(), cols = src.cols();
  if (rows == 0 || cols == 0) return;
  StoreRows p{static_cast<const char*>(src.data), static_cast<char*>(dst.data),
              static_cast<const int32_t*>(positions.data), src.row_stride(), dst.row_stride(), dst.rows(), rows, cols};
  if (dst.type == DType::Q8_0)
    return quantize_rows_q8(src, dst, static_cast<const int32_t*>(positions.data), stream(), "store_rows");
  constexpr int kThreads = 256;
  const int64_t grid_y = std::min<int64_t>(rows, kMaxGridY);
  const int64_t grid_x = std::clamp<int64_t>((cols + kThreads - 1) / kThreads, 1, 1024);
  const dim3 grid{unsigned(grid_x), unsigned(grid_y)};
  dispatch_float_type(src.type, [&](auto s) {
    dispatch_float_type(dst.type, [&](auto d) {
      store_rows_kernel<decltype(s), decltype(d)><<<grid, kThreads, 0, stream()>>>(p);
    });
  });
  check_launch("store_rows", "store_rows_kernel");
}

}  // namespace llmr
