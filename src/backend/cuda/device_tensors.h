#pragma once
// Host-side helpers shared by the op files of the CUDA backend: device placement checks, alignment
// tests for vector paths, and row-count limits of one launch.
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "ops/op_checks.h"
#include "tensor/tensor.h"

namespace llmr::cuda_detail {

// Throws "<op>: <name> ... is on the host, this backend needs it on the GPU" for any host tensor.
inline void check_on_device(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  for (const auto& [what, t] : ts) op_checks::check_device(op, what, *t, Device::Cuda);
}

// True when every row of t starts on a `bytes` boundary (data and row stride both multiples).
inline bool rows_aligned(const Tensor& t, int64_t bytes) {
  return reinterpret_cast<uintptr_t>(t.data) % uintptr_t(bytes) == 0 && (t.rows() <= 1 || t.row_stride() % bytes == 0);
}

// Grid dimension y/z limit: launches over more rows loop inside the kernel.
constexpr int64_t kMaxGridY = 65535;

inline int round_up(int64_t v, int64_t m) { return int((v + m - 1) / m * m); }

}  // namespace llmr::cuda_detail
