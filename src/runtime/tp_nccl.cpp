#include "runtime/tp_nccl.h"

#include <cstdlib>
#include <string>

#ifdef LLMR_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace llmr {

const char* disable_nvlink_multicast() {
  static std::string before;
  const char* old = std::getenv("NCCL_NVLS_ENABLE");
  before = old ? old : "";
  setenv("NCCL_NVLS_ENABLE", "0", 1);
  return before.c_str();
}

int visible_gpu_count() {
#ifdef LLMR_HAVE_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later CUDA calls do not report it
    return 0;
  }
  return count;
#else
  return 0;
#endif
}

}  // namespace llmr
