// LLMR_CUDA_PDL=0 (read at every launch) turns programmatic dependent launch off (pdl.cuh).
#include <cstdlib>
#include <cstring>

#include "backend/cuda/pdl.cuh"

namespace llmr::cuda_ops {

bool pdl_enabled() {
  const char* v = std::getenv("LLMR_CUDA_PDL");
  return !(v && std::strcmp(v, "0") == 0);
}

}  // namespace llmr::cuda_ops
