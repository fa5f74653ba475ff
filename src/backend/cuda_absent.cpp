// Builds without CUDA (LLMR_CUDA=OFF) still link callers of cuda_available() / make_cuda_backend().
#ifndef LLMR_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "core/error.h"

namespace llmr {

bool cuda_available() { return false; }

std::unique_ptr<Backend> make_cuda_backend(int) {
  throw Error("cuda: this llmr was built without the CUDA backend (configure with -DLLMR_CUDA=ON)");
}

}  // namespace llmr
#endif
