// CudaBackend::upload_matmul_weight: q4_0 / q4_k matrices regrouped into records of 8 units
// (tensor/unit_records.h) on the way to the device, so that the GEMV reads a unit with one 16-byte
// load and a warp's loads are contiguous (docs/PERFORMANCE.md, session 9). LLMR_CUDA_REGROUP=0 keeps
// the file's layout, for A/B runs.
#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/kernel_status.h"
#include "tensor/unit_records.h"

namespace llmr {
namespace {

bool regroup_requested() { return cuda_ops::switch_on("LLMR_CUDA_REGROUP"); }

// dst = src regrouped, rows split over a few threads (a model's worth is gigabytes).
void regroup_rows_in_parallel(const Tensor& src, const Tensor& dst) {
  const int64_t rows = src.shape[0];
  const int threads = int(std::clamp<int64_t>(std::min<int64_t>(std::thread::hardware_concurrency(), 8), 1,
                                              std::max<int64_t>(rows / 64, 1)));
  const int64_t per = (rows + threads - 1) / threads;
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    const int64_t r0 = std::min(rows, i * per), n = std::min(rows, r0 + per) - r0;
    pool.emplace_back([&, i, r0, n] {
      try {
        if (n > 0) regroup_unit_records(src.slice_rows(r0, n), dst.slice_rows(r0, n));
      } catch (...) {
        errors[size_t(i)] = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

std::unique_ptr<Buffer> CudaBackend::upload_matmul_weight(const Tensor& host) {
  if (!regroup_requested() || host.device != Device::Host || !can_regroup_unit_records(host)) return upload(host);
  HostBuffer staged(unit_records_type(host.type), {host.shape[0], host.shape[1]});
  regroup_rows_in_parallel(host, staged.tensor());
  return upload(staged.tensor());  // copies before it returns: the staging buffer may go
}

}  // namespace llmr
