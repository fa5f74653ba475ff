// GPU microbenchmark of the quantized-weight tensor-core GEMM (gemm_mma) against the older path it
// replaces for batches (gemm(): weights dequantized to an f16 copy, then cuBLAS), on Llama-3-8B shapes,
// types q4_0 / q4_k / q6_k / q8_0 and T in {16, 32, 64, 128, 256, 512}. Each time is the median of 20
// single calls timed by CUDA events (after 3 warm-up calls), weights rotated over copies that together
// exceed the L2 cache. Prints a markdown table: microseconds, weight bytes per second (one read of W),
// TFLOP/s (2 T in out), the speedup, and the largest difference of the two paths' outputs relative to
// the largest output (a sanity check: both multiply the same f16 values and differ only in the order
// of f32 additions, so ~1e-5 or less is expected; a broken kernel shows ~1).
// Usage: cuda_gemm_bench [--quick]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/kernel_status.h"
#include "backend/cuda/matmul_kernels.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"
#include "cuda_bench_util.h"

using namespace llmr;

namespace {

using bench_util::DeviceMem;
using bench_util::device_view;
using bench_util::random_floats;

const char* kOp = "cuda_gemm_bench";

// Median (seconds) of `runs` single calls fn(i), each between two events, after 3 warm-up calls.
template <typename F>
double median_time(cudaStream_t s, int runs, F&& fn) {
  for (int i = 0; i < 3; ++i) fn(i);  // module load, cuBLAS heuristics, pool growth
  cudaEvent_t a, b;
  cuda_ops::check_cuda(cudaEventCreate(&a), kOp, "cudaEventCreate");
  cuda_ops::check_cuda(cudaEventCreate(&b), kOp, "cudaEventCreate");
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    cuda_ops::check_cuda(cudaEventRecord(a, s), kOp, "cudaEventRecord");
    fn(3 + i);
    cuda_ops::check_cuda(cudaEventRecord(b, s), kOp, "cudaEventRecord");
    cuda_ops::check_cuda(cudaEventSynchronize(b), kOp, "cudaEventSynchronize");
    float ms = 0;
    cuda_ops::check_cuda(cudaEventElapsedTime(&ms, a, b), kOp, "cudaEventElapsedTime");
    times.push_back(ms * 1e-3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::vector<float> download(const DeviceMem& m, size_t n) {
  std::vector<float> v(n);
  cuda_ops::check_cuda(cudaMemcpy(v.data(), m.p, n * 4, cudaMemcpyDeviceToHost), kOp, "cudaMemcpy");
  return v;
}

void bench(cudaStream_t s, cublasHandle_t cublas, bool quick) {
  const DType types[] = {DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::Q8_0};
  const int64_t shapes[][2] = {{4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336}, {128256, 4096}};  // {out, in}
  const int64_t tokens[] = {16, 32, 64, 128, 256, 512};
  const int runs = quick ? 5 : 20;
  std::printf("| type | out x in | T | mma us | mma GB/s | mma TFLOP/s | old us | old TFLOP/s | speedup | max diff |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (DType type : types)
    for (const auto& sh : shapes) {
      const int64_t out = sh[0], in = sh[1], max_t = 512;
      const size_t wbytes = row_bytes(type, in) * size_t(out);
      const int copies = int(std::clamp<size_t>((size_t(256) << 20) / wbytes + 1, 1, 8));
      const auto w = bench_util::weight_copies(type, out, in, copies);
      const auto xv = random_floats(size_t(max_t * in), -1.f, 1.f);
      DeviceMem x(xv.size() * 4), y_new(size_t(max_t * out) * 4), y_old(size_t(max_t * out) * 4);
      cuda_ops::check_cuda(cudaMemcpy(x.p, xv.data(), xv.size() * 4, cudaMemcpyHostToDevice), kOp, "cudaMemcpy");
      for (int64_t T : tokens) {
        const Tensor xt = device_view(x.p, DType::F32, T, in);
        auto weights = [&](int i) { return device_view(w[size_t(i % copies)]->p, type, out, in); };
        bool taken = true;
        const double t_new = median_time(s, runs, [&](int i) {
          taken = cuda_ops::gemm_mma(xt, weights(i), nullptr, device_view(y_new.p, DType::F32, T, out), s) && taken;
        });
        const double t_old = median_time(s, runs, [&](int i) {
          cuda_ops::gemm(xt, weights(i), nullptr, device_view(y_old.p, DType::F32, T, out), s, cublas);
        });
        cuda_ops::check_cuda(cudaStreamSynchronize(s), kOp, "cudaStreamSynchronize");
        const std::string shape = std::to_string(out) + "x" + std::to_string(in);
        if (!taken) {
          std::printf("| %s | %s | %lld | declined | | | %.1f | | | |\n", name(type), shape.c_str(), (long long)T,
                      t_old * 1e6);
          continue;
        }
        double diff = NAN;
        if (size_t(T * out) <= (size_t(16) << 20)) {  // skip the largest outputs' copies
          const auto a = download(y_new, size_t(T * out)), b = download(y_old, size_t(T * out));
          double dmax = 0, ymax = 0;
          for (size_t i = 0; i < a.size(); ++i) {
            dmax = std::max(dmax, std::fabs(double(a[i]) - b[i]));
            ymax = std::max(ymax, std::fabs(double(b[i])));
          }
          diff = dmax / std::max(ymax, 1e-30);
        }
        const double flops = 2.0 * double(T) * double(in) * double(out);
        std::printf("| %s | %s | %lld | %.1f | %.0f | %.1f | %.1f | %.1f | %.2fx | %.1e |\n", name(type), shape.c_str(),
                    (long long)T, t_new * 1e6, double(wbytes) / t_new / 1e9, flops / t_new / 1e12, t_old * 1e6,
                    flops / t_old / 1e12, t_old / t_new, diff);
        std::fflush(stdout);
      }
    }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  try {
    cudaStream_t s;
    cuda_ops::check_cuda(cudaStreamCreate(&s), kOp, "cudaStreamCreate");
    cublasHandle_t cublas;
    cuda_ops::check_cublas(cublasCreate(&cublas), kOp, "cublasCreate");
    cuda_ops::check_cublas(cublasSetStream(cublas, s), kOp, "cublasSetStream");
    cuda_ops::keep_pool_memory(0);
    bench(s, cublas, quick);
    cublasDestroy(cublas);
    cudaStreamDestroy(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_gemm_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
