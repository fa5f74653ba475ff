// LLMR_CUDA_PDL=0 (read at every launch) turns programmatic dependent launch off (pdl.cuh).
#include "backend/cuda/pdl.cuh"

namespace llmr::cuda_ops {

bool pdl_enabled() {
  return switch_on("LLMR_CUDA_PDL");
}

}  // namespace llmr::cuda_ops
