// LLMR_CUDA_PDL=0 (read at every launch) turns programmatic dependent launch off (pdl.cuh); the shared
// L1 / shared memory split of the generation step's kernels.
#include "backend/cuda/pdl.cuh"

#include <algorithm>
#include <cstdio>
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
// for the kernel before to leave whole multiprocessors. With one split for F16's step kernels, its
// boundaries after attention and after the o product went from 1.5-2.0 us to 0.8 (the kernels' waits
// returning after the last warp of the kernel before) and tg128 on the H200 from 244.4 / 245.2 to
// 246.5 / 247.3 (docs/measurements/2026-11-30-h200-27/, f6). Only the plain and streaming GEMVs and
// the decode attention ask for it: given to every kernel of little shared memory, Q4_0's tg128 fell
// from 697-700 to 609-610 (f7, f8): its SwiGLU and output-head kernels themselves run 34% and 10%
// slower with the split (alone, cache emptied), and tg128 loses 11-14% at 10, 32 or 100% shared
// (-h200-28/, g1). With attention's alone it is 696.6 against 694.9 (f9). A kernel whose resident
// blocks need more shared memory than the split holds keeps the driver's choice.
// LLMR_CUDA_CARVEOUT=P (read at the first launch of each kernel): P percent of the unified memory as
// shared memory instead of 10; -1: the driver's choice for all.
// LLMR_CUDA_CARVEOUT_LOG=1 names each kernel as it is asked, with its shared memory and the outcome.
bool carveout_for_all() {
  const char* v = std::getenv("LLMR_CUDA_CARVEOUT_ALL");
  return v && *v == '1';
}

void share_small_carveout(const void* kernel, int threads, size_t dynamic_smem) {
  static std::mutex m;
  static std::unordered_set<const void*> asked;
  std::lock_guard<std::mutex> lock(m);
  if (!asked.insert(kernel).second) return;
  const char* v = std::getenv("LLMR_CUDA_CARVEOUT");
  const int percent = v && *v ? std::atoi(v) : 10;
  if (percent < 0) return;
  int device = 0, per_multiprocessor = 0, blocks = 0;
  check_cuda(cudaGetDevice(&device), "launch", "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&per_multiprocessor, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device), "launch",
             "cudaDeviceGetAttribute (shared memory)");
  cudaFuncAttributes attrs{};
  check_cuda(cudaFuncGetAttributes(&attrs, kernel), "launch", "cudaFuncGetAttributes");
  check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, dynamic_smem), "launch",
             "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  const size_t resident = (attrs.sharedSizeBytes + dynamic_smem) * size_t(std::max(blocks, 1));
  const bool fits = resident <= size_t(per_multiprocessor) * size_t(percent) / 100;  // else fewer blocks
  if (const char* log = std::getenv("LLMR_CUDA_CARVEOUT_LOG"); log && *log == '1') {
    const char* name = "?";
    // A failed lookup leaves no error behind for the next launch's check to report.
    if (cudaFuncGetName(&name, kernel) != cudaSuccess) name = "?", cudaGetLastError();
    std::fprintf(stderr, "carveout %d%%: %s, %d threads, %d blocks a multiprocessor, %zu bytes shared: %s\n",
                 percent, name, threads, blocks, resident, fits ? "asked" : "left to the driver");
  }
  if (!fits) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, percent), "launch",
             "cudaFuncSetAttribute (carveout)");
}

}  // namespace llmr::cuda_ops
