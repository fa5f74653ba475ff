// LLMR_CUDA_PDL=0 (read at every launch) turns programmatic dependent launch off (pdl.cuh); the shared
// memory split of the kernels launched through launch_pdl.
#include "backend/cuda/pdl.cuh"

#include <cstdlib>
#include <mutex>
#include <unordered_set>

namespace llmr::cuda_ops {

bool pdl_enabled() {
  return switch_on("LLMR_CUDA_PDL");
}

// The L1 / shared split is a multiprocessor's, and one holds blocks of kernels asking for the same
// split only: left to the driver, each kernel took the split its own shared memory fits (the
// streaming GEMV none, attention ~9 KB, the other products 64 bytes), so a dependent's blocks waited
// for the kernel before to leave whole multiprocessors. With one split for all, F16's boundaries
// after attention and after the o product went from 1.5-2.0 us to 0.8 (the kernels' waits returning
// after the last warp of the kernel before) and tg128 on the H200 from 244.4 / 245.2 to 246.5 / 247.3
// (docs/measurements/2026-11-30-h200-27/, f6). Kernels of more shared memory (prompt GEMMs, flash
// attention) keep the driver's choice. LLMR_CUDA_CARVEOUT=P (read at the first launch of each kernel):
// P percent of the unified memory as shared memory instead of 10; -1: the driver's choice for all.
constexpr size_t kSmallSharedMemory = 16 << 10;

void share_small_carveout(const void* kernel, size_t dynamic_smem) {
  static std::mutex m;
  static std::unordered_set<const void*> asked;
  std::lock_guard<std::mutex> lock(m);
  if (!asked.insert(kernel).second) return;
  const char* v = std::getenv("LLMR_CUDA_CARVEOUT");
  const int percent = v && *v ? std::atoi(v) : 10;
  if (percent < 0) return;
  cudaFuncAttributes attrs{};
  check_cuda(cudaFuncGetAttributes(&attrs, kernel), "launch", "cudaFuncGetAttributes");
  if (attrs.sharedSizeBytes + dynamic_smem > kSmallSharedMemory) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, percent), "launch",
             "cudaFuncSetAttribute (carveout)");
}

}  // namespace llmr::cuda_ops
