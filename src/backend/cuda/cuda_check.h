#pragma once
// CUDA and cuBLAS status codes as llmr::Error: every message names the op and the call that failed.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace llmr::cuda_detail {

inline void cuda_check(cudaError_t status, const char* op, const char* what) {
  if (status == cudaSuccess) return;
  // Consumed here: a call's non-sticky error must not be reported again by the next launch's check.
  cudaGetLastError();
  throw Error(std::string(op) + ": " + what + " failed: " + cudaGetErrorName(status) + " (" +
              cudaGetErrorString(status) + ")");
}

// After each kernel launch: a bad configuration is reported here, naming the op, not at a later sync.
inline void check_launch(const char* op, const char* kernel) { cuda_check(cudaGetLastError(), op, kernel); }

inline void cublas_check(cublasStatus_t status, const char* op, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string(op) + ": " + what + " failed: cuBLAS status " + std::to_string(int(status)) + " (" +
                cublasGetStatusString(status) + ")");
}

}  // namespace llmr::cuda_detail
