#pragma once
// What the CUDA microbenchmarks (tools/cuda_*_bench.cu) share: device memory, seeded random data and
// weight matrices of any type.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "backend/cuda/kernel_status.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"
#include "tensor/unit_records.h"

namespace llmr::bench_util {

struct DeviceMem {
  void* p = nullptr;
  explicit DeviceMem(size_t bytes) { cuda_ops::check_cuda(cudaMalloc(&p, bytes), "bench", "cudaMalloc"); }
  ~DeviceMem() { cudaFree(p); }
  DeviceMem(const DeviceMem&) = delete;
  DeviceMem& operator=(const DeviceMem&) = delete;
};

// One fixed seed: every run of a benchmark times the same data.
inline std::mt19937& generator() {
  static std::mt19937 gen(12345);
  return gen;
}

inline std::vector<float> random_floats(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(generator());
  return v;
}

// Host bytes of a [rows, cols] matrix of `type` whose rows cycle through 61 random quantized rows (the
// regrouped q4_0c / q4_kc: such a q4_0 / q4_k matrix regrouped, as the CUDA backend uploads it).
inline std::vector<unsigned char> random_matrix(DType type, int64_t rows, int64_t cols) {
  if (type == DType::Q4_0C || type == DType::Q4_KC) {
    auto plain = random_matrix(unit_records_plain_type(type), rows, cols);
    std::vector<unsigned char> out(plain.size());
    regroup_unit_records(Tensor::view(plain.data(), unit_records_plain_type(type), {rows, cols}, Device::Host),
                         Tensor::view(out.data(), type, {rows, cols}, Device::Host));
    return out;
  }
  const size_t rb = row_bytes(type, cols);
  std::vector<unsigned char> bytes(rb * size_t(rows));
  const int64_t distinct = std::min<int64_t>(rows, 61);
  for (int64_t r = 0; r < distinct; ++r) {
    auto v = random_floats(size_t(cols), -0.05f, 0.05f);
    quantize_row(type, v.data(), bytes.data() + rb * size_t(r), cols);
  }
  for (int64_t r = distinct; r < rows; ++r) std::memcpy(&bytes[rb * size_t(r)], &bytes[rb * size_t(r % distinct)], rb);
  return bytes;
}

// `copies` device copies of one random [rows, cols] matrix of `type`: cycling through them makes
// every call read its weights from device memory rather than from the 50 MB L2.
inline std::vector<std::unique_ptr<DeviceMem>> weight_copies(DType type, int64_t rows, int64_t cols, int copies) {
  const auto host = random_matrix(type, rows, cols);
  std::vector<std::unique_ptr<DeviceMem>> w;
  for (int c = 0; c < copies; ++c) {
    w.push_back(std::make_unique<DeviceMem>(host.size()));
    cuda_ops::check_cuda(cudaMemcpy(w.back()->p, host.data(), host.size(), cudaMemcpyHostToDevice), "bench", "cudaMemcpy");
  }
  return w;
}

inline Tensor device_view(void* p, DType type, int64_t rows, int64_t cols) {
  return Tensor::view(p, type, {rows, cols}, Device::Cuda);
}

}  // namespace llmr::bench_util
