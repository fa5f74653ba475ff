// CudaBackend::softmax: one block per row. Pass 1 keeps a running (max, sum of exp) per thread, merged
// across the block by warp shuffles; pass 2 re-reads the row (from cache) and writes exp(x - max) / sum.
// The max is subtracted before exp, so logits near f32's limit stay finite.
#include <cmath>

#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_tensors.h"
#include "ops/op_checks.h"

namespace llmr {
namespace cuda_detail {
namespace {

__global__ void __launch_bounds__(1024) softmax_rows(char* x, int64_t stride, int n) {
  float* row = reinterpret_cast<float*>(x + int64_t(blockIdx.x) * stride);
  float m = -INFINITY, s = 0.f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = row[i];
    if (v > m) {  // a new maximum rescales what was summed so far
      s = s * expf(m - v) + 1.f;
      m = v;
    } else if (m != -INFINITY) {
      s += expf(v - m);
    } else if (v != v) {
      s = v;  // NaN: propagate
    }
  }
  const float row_max = block_reduce(m, MaxOp{}, -INFINITY);
  const float part = s == 0.f ? 0.f : s * expf(m - row_max);
  const float total = block_reduce(part, SumOp{}, 0.f);
  for (int i = threadIdx.x; i < n; i += blockDim.x) row[i] = expf(row[i] - row_max) / total;
}

}  // namespace
}  // namespace cuda_detail

void CudaBackend::softmax(const Tensor& x) {
  using namespace cuda_detail;
  op_checks::softmax(x);
  check_on_device("softmax", {{"x", &x}});
  const int64_t rows = x.rows(), n = x.cols();
  if (rows == 0 || n == 0) return;
  check(n < (int64_t(1) << 30), "softmax: rows of " + x.describe() + " are too long for the CUDA kernel");
  const int threads = int(std::min<int64_t>(1024, round_up(n, 32)));
  softmax_rows<<<unsigned(rows), threads, 0, stream()>>>(static_cast<char*>(x.data), x.row_stride(), int(n));
  check_launch("softmax", "softmax_rows");
}

}  // namespace llmr
