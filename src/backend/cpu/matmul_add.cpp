// CpuBackend::matmul_add and swiglu_matmul_add: the product (the activations) into a per-thread
// scratch that only grows (no allocation per call), then added into y.
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/matmul_checks.h"

namespace llmr {

void CpuBackend::matmul_add(const Tensor& x, const Tensor& w, const Tensor& y) {
  check_matmul_args(x, w, nullptr, y);
  thread_local std::vector<float> scratch;
  const size_t n = size_t(y.shape[0]) * size_t(y.shape[1]);
  if (scratch.size() < n) scratch.resize(n);
  const Tensor product = Tensor::view(scratch.data(), DType::F32, {y.shape[0], y.shape[1]}, Device::Host);
  matmul(x, w, nullptr, product);
  add(y, product, y);
}

void CpuBackend::swiglu_matmul_add(const Tensor& gate, const Tensor& up, const Tensor& w, const Tensor& y) {
  check(gate.ndim == 2, "swiglu_matmul_add: gate " + gate.describe() + " must be a matrix");
  thread_local std::vector<float> scratch;
  const size_t n = size_t(gate.shape[0]) * size_t(gate.shape[1]);
  if (scratch.size() < n) scratch.resize(n);
  const Tensor act = Tensor::view(scratch.data(), DType::F32, {gate.shape[0], gate.shape[1]}, Device::Host);
  swiglu(gate, up, act);
  matmul_add(act, w, y);
}

}  // namespace llmr
