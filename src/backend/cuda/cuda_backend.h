#pragma once
// The CUDA backend (H200, sm_90a): the same ops as the CPU, on device memory, one .cu file per op
// family. Tensors it reads and writes live on the device (Device::Cuda); weights are uploaded once.
#include <memory>

#include "ops/backend.h"

namespace llmr {

// True when a CUDA device can be used by this process.
bool cuda_available();

// The backend for device `device`; throws Error when there is none.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace llmr
