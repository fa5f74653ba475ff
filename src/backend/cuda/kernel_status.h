#pragma once
// The matmul and attention files' view of cuda_check.h, plus stream-ordered scratch memory.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "core/error.h"

namespace llmr::cuda_ops {

using cuda_detail::check_launch;
inline void check_cuda(cudaError_t status, const char* op, const char* what) { cuda_detail::cuda_check(status, op, what); }
inline void check_cublas(cublasStatus_t status, const char* op, const char* what) {
  cuda_detail::cublas_check(status, op, what);
}

// A feature switch such as LLMR_CUDA_PDL: on unless the variable is "0" (read at every call, so
// comparison runs can flip it).
inline bool switch_on(const char* var) {
  const char* v = std::getenv(var);
  return !(v && std::strcmp(v, "0") == 0);
}

// Device memory ordered on a stream (cudaMallocAsync / cudaFreeAsync): scratch for one call that
// later kernels on the same stream may still use after this object is gone.
class StreamScratch {
 public:
  StreamScratch(size_t bytes, cudaStream_t stream, const char* op) : stream_(stream) {
    if (bytes) check_cuda(cudaMallocAsync(&ptr_, bytes, stream), op, "cudaMallocAsync (scratch)");
  }
  ~StreamScratch() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace llmr::cuda_ops
