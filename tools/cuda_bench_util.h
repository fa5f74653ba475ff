#pragma once
// What the CUDA microbenchmarks (tools/cuda_*_bench.cu) share: device memory, seeded random data and
// weight matrices of any type.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
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

// Median seconds per call of fn(i), i = 0 .. per_graph - 1, captured in one CUDA graph and replayed
// 16 times (the first replay not counted): launch gaps as in the decode graph, no host launch cost.
// fn(0) and fn(1) run once before the capture for one-time setup.
inline double graph_seconds_per_call(cudaStream_t s, int per_graph, const std::function<void(int)>& fn) {
  const char* op = "bench";
  for (int i = 0; i < 2; ++i) fn(i);
  cuda_ops::check_cuda(cudaStreamSynchronize(s), op, "sync");
  cudaGraph_t g;
  cuda_ops::check_cuda(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), op, "begin capture");
  for (int i = 0; i < per_graph; ++i) fn(i);
  cuda_ops::check_cuda(cudaStreamEndCapture(s, &g), op, "end capture");
  cudaGraphExec_t e;
  cuda_ops::check_cuda(cudaGraphInstantiate(&e, g, 0), op, "instantiate");
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<double> t;
  for (int k = 0; k < 16; ++k) {
    cudaEventRecord(a, s);
    cuda_ops::check_cuda(cudaGraphLaunch(e, s), op, "graph launch");
    cudaEventRecord(b, s);
    cuda_ops::check_cuda(cudaEventSynchronize(b), op, "sync");
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    if (k > 0) t.push_back(ms * 1e-3 / per_graph);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(e);
  cudaGraphDestroy(g);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

inline Tensor device_view(void* p, DType type, int64_t rows, int64_t cols) {
  return Tensor::view(p, type, {rows, cols}, Device::Cuda);
}

}  // namespace llmr::bench_util
