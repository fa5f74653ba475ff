#pragma once
// The backends every op battery runs against: the reference itself (sanity of the battery), the CPU
// backend at every SIMD level this machine has, and CUDA when a GPU is present.
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/reference/reference_backend.h"
#ifdef LLMR_TEST_CUDA_BACKEND
#include "cuda/host_mirror_backend.h"
#endif

namespace llmr::testing {

inline ReferenceBackend& reference() {
  static ReferenceBackend r;
  return r;
}

#ifdef LLMR_TEST_CUDA_BACKEND
// test_cuda compiles these batteries again with "cuda" as the only backend under test.
inline std::vector<std::string> backend_names() { return {"cuda"}; }

inline Backend& backend_named(const std::string& name) {
  if (name == "cuda") return cuda_mirror();
  return reference();
}
#else
inline std::vector<std::string> backend_names() { return {"reference", "cpu"}; }

inline Backend& backend_named(const std::string& name) {
  static CpuBackend cpu(2);
  if (name == "cpu") return cpu;
  return reference();
}
#endif

}  // namespace llmr::testing
