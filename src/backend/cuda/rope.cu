// CudaBackend::rope: in place, a grid over (token row, chunk of (head, pair)s). The rows' positions
// travel in the kernel parameters (no host-to-device copy, nothing to synchronise, capturable in a
// graph); each distinct inv_freq table is uploaded once and kept. Angles are formed in
// f32 as on the host, cos/sin by the accurate sincosf.
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/rope_pair.cuh"
#include "ops/op_checks.h"

namespace llmr {
namespace cuda_detail {
namespace {

constexpr int kRopeRowsPerLaunch = 768;  // keeps the parameters under 4 KB

struct RopeArgs {
  char* x;
  int64_t stride;
  const float* inv_freq;
  int n_heads, head_dim, half;
  bool neox;
  const int32_t* dev_pos;  // positions in device memory (rope_from), else the ones below
  int32_t pos[kRopeRowsPerLaunch];
};

__global__ void __launch_bounds__(256) rope_rows(const __grid_constant__ RopeArgs a) {
  cuda_ops::pdl_wait();
  cuda_ops::pdl_release();
  float* row = reinterpret_cast<float*>(a.x + int64_t(blockIdx.x) * a.stride);
  const float p = float(a.dev_pos ? a.dev_pos[blockIdx.x] : a.pos[blockIdx.x]);
  const int pairs = a.n_heads * a.half;
  for (int idx = blockIdx.y * blockDim.x + threadIdx.x; idx < pairs; idx += gridDim.y * blockDim.x) {
    const int h = idx / a.half, i = idx - h * a.half;
    float* head = row + int64_t(h) * a.head_dim;
    const int ia = a.neox ? i : 2 * i, ib = a.neox ? i + a.half : 2 * i + 1;
    rotate_pair(head[ia], head[ib], p, a.inv_freq[i]);
  }
}

}  // namespace
}  // namespace cuda_detail

void CudaBackend::rope(const Tensor& x, int n_heads, std::span<const int32_t> positions, const RopeSpec& spec) {
  rope_rows_at(x, n_heads, positions, nullptr, spec);
}

void CudaBackend::rope_from(const Tensor& x, int n_heads, const Tensor& positions, const RopeSpec& spec) {
  cuda_detail::check_on_device("rope", {{"x", &x}, {"positions", &positions}});
  op_checks::index_tensor("rope", "positions", positions, x.rows());
  const std::vector<int32_t> zeros(size_t(x.rows()), 0);  // for the shape checks; the values are on the device
  rope_rows_at(x, n_heads, zeros, static_cast<const int32_t*>(positions.data), spec);
}

void CudaBackend::rope_rows_at(const Tensor& x, int n_heads, std::span<const int32_t> positions,
                               const int32_t* device_positions, const RopeSpec& spec) {
  using namespace cuda_detail;
  op_checks::rope(x, n_heads, positions, spec);
  check_on_device("rope", {{"x", &x}});
  const int64_t rows = x.rows();
  if (rows == 0) return;
  const int half = spec.rot_dims / 2;
  RopeArgs a{};
  a.stride = x.row_stride();
  a.inv_freq = rope_inv_freq(spec.inv_freq, half);
  a.n_heads = n_heads;
  a.head_dim = spec.head_dim;
  a.half = half;
  a.neox = spec.layout == RopeLayout::NeoX;
  // One (head, pair) per thread: a single decode row still spreads over several multiprocessors.
  const int64_t pairs = int64_t(n_heads) * half;
  const int threads = int(std::min<int64_t>(256, round_up(pairs, 32)));
  const unsigned chunks = unsigned(std::min<int64_t>((pairs + threads - 1) / threads, kMaxGridY));
  for (int64_t begin = 0; begin < rows; begin += kRopeRowsPerLaunch) {
    const int64_t count = std::min<int64_t>(kRopeRowsPerLaunch, rows - begin);
    a.x = static_cast<char*>(x.data) + begin * a.stride;
    a.dev_pos = device_positions ? device_positions + begin : nullptr;
    if (!device_positions)
      for (int64_t t = 0; t < count; ++t) a.pos[t] = positions[size_t(begin + t)];
    cuda_ops::launch_pdl(rope_rows, dim3(unsigned(count), chunks), dim3(threads), 0, stream(), "rope", "rope_rows", a);
  }
}

}  // namespace llmr
