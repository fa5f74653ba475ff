// GPU microbenchmark of the matmul and attention kernels on Llama-3-8B shapes (CUDA events, warm-up,
// median of repeated batches, weights rotated over copies that together exceed the L2 cache).
// Prints, per weight type and shape: GEMV time at T=1 and GB/s of weights read against the 4.28 TB/s
// device copy rate, the same fraction at T=2, 4, 8, T=1 times with int8 activations
// (LLMR_CUDA_FLOAT_GEMV=0), f32 activations (=1; plain types take the same kernel either way) and the
// previous kernels (LLMR_CUDA_OLD_KERNELS=1), %copy of the staged kernel at 1, 3, 4 resident blocks per
// SM (LLMR_CUDA_GEMV_BLOCKS_PER_SM; default 2), and GEMM (T=512) TFLOP/s; then
// attention decode (T=1 and 4, S=512 and 4096, new kernel and old) in GB/s of K/V read, and prefill
// (T=512) time. Usage: cuda_matmul_bench [--quick]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/kernel_status.h"
#include "backend/cuda/matmul_kernels.h"
#include "tensor/dtype.h"
#include "tensor/half.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"
#include "cuda_bench_util.h"

using namespace llmr;

namespace {

using bench_util::DeviceMem;
using bench_util::device_view;
using bench_util::random_floats;

constexpr double kCopyRate = 4.28e12;  // bytes/s, H200 device-to-device copy (issue 4)
const char* kOp = "bench";

// Median over `batches` of the mean time (seconds) of `per_batch` calls of fn(i).
template <typename F>
double median_time(cudaStream_t s, int batches, int per_batch, F&& fn) {
  for (int i = 0; i < 3; ++i) fn(i);  // warm-up: module load, cuBLAS heuristics, pool growth
  cudaEvent_t a, b;
  cuda_ops::check_cuda(cudaEventCreate(&a), kOp, "cudaEventCreate");
  cuda_ops::check_cuda(cudaEventCreate(&b), kOp, "cudaEventCreate");
  std::vector<double> times;
  int call = 0;
  for (int k = 0; k < batches; ++k) {
    cuda_ops::check_cuda(cudaEventRecord(a, s), kOp, "cudaEventRecord");
    for (int i = 0; i < per_batch; ++i) fn(call++);
    cuda_ops::check_cuda(cudaEventRecord(b, s), kOp, "cudaEventRecord");
    cuda_ops::check_cuda(cudaEventSynchronize(b), kOp, "cudaEventSynchronize");
    float ms = 0;
    cuda_ops::check_cuda(cudaEventElapsedTime(&ms, a, b), kOp, "cudaEventElapsedTime");
    times.push_back(ms * 1e-3 / per_batch);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Runs fn with the environment variable `var` set to `value` (null: unset), restoring "unset" after.
template <typename F>
double with_env(const char* var, const char* value, F&& fn) {
  if (value) ::setenv(var, value, 1);
  const double t = fn();
  ::unsetenv(var);
  return t;
}

void bench_matmul(cudaStream_t s, cublasHandle_t cublas, bool quick) {
  const DType types[] = {DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::F16, DType::BF16};
  const int64_t shapes[][2] = {{4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336}, {128256, 4096}};  // {out, in}
  std::printf("GEMV: weights read once per call; %%copy = GB/s over %.2f TB/s. Default routing at T=1,2,4,8;\n"
              "T=1 also with int8 activations (LLMR_CUDA_FLOAT_GEMV=0), f32 activations (=1), the previous\n"
              "kernels (LLMR_CUDA_OLD_KERNELS=1) and the staged kernel at 1, 3, 4 blocks per SM (default 2;\n"
              "LLMR_CUDA_GEMV_BLOCKS_PER_SM); GEMM at T=512.\n", kCopyRate / 1e12);
  std::printf("%-6s %-12s %8s %6s %6s | %6s %6s %6s | %8s %8s %8s | %6s %6s %6s | %10s %8s\n", "type", "out x in", "T1_us",
              "GB/s", "%copy", "%T2", "%T4", "%T8", "int8_us", "f32_us", "old_us", "%bps1", "%bps3", "%bps4",
              "gemm512_us", "TFLOP/s");
  for (DType type : types)
    for (const auto& sh : shapes) {
      const int64_t out = sh[0], in = sh[1], T = 512;
      const size_t wbytes = row_bytes(type, in) * size_t(out);
      // copies together >= 256 MB (L2: 50 MB), so every call reads its weights from device memory
      const int copies = int(std::clamp<size_t>((size_t(256) << 20) / wbytes + 1, 1, 128));
      const auto w = bench_util::weight_copies(type, out, in, copies);
      const auto xv = random_floats(size_t(T * in), -1.f, 1.f);
      DeviceMem x(xv.size() * 4), y(size_t(T * out) * 4);
      cuda_ops::check_cuda(cudaMemcpy(x.p, xv.data(), xv.size() * 4, cudaMemcpyHostToDevice), kOp, "cudaMemcpy");
      auto run = [&](int64_t t_rows, int i) {
        cuda_ops::matmul(device_view(x.p, DType::F32, t_rows, in), device_view(w[size_t(i % copies)]->p, type, out, in),
                         nullptr, device_view(y.p, DType::F32, t_rows, out), s, cublas);
      };
      const int batches = quick ? 5 : 21;
      auto gemv_time = [&](int64_t t_rows) { return median_time(s, batches, 20, [&](int i) { run(t_rows, i); }); };
      double t_at[4];
      const int64_t ts[4] = {1, 2, 4, 8};
      for (int k = 0; k < 4; ++k) t_at[k] = gemv_time(ts[k]);
      const bool q = info(type).quantized;
      const double t_int8 = q ? with_env("LLMR_CUDA_FLOAT_GEMV", "0", [&] { return gemv_time(1); }) : t_at[0];
      const double t_f32 = q ? with_env("LLMR_CUDA_FLOAT_GEMV", "1", [&] { return gemv_time(1); }) : t_at[0];
      const double t_old = with_env("LLMR_CUDA_OLD_KERNELS", "1", [&] { return gemv_time(1); });
      double t_bps[3] = {t_at[0], t_at[0], t_at[0]};  // staged kernel at 1, 3, 4 resident blocks per SM (default 2)
      const char* bps[3] = {"1", "3", "4"};
      if (q)
        for (int k = 0; k < 3; ++k) t_bps[k] = with_env("LLMR_CUDA_GEMV_BLOCKS_PER_SM", bps[k], [&] { return gemv_time(1); });
      const double tg = median_time(s, quick ? 3 : 7, 3, [&](int i) { run(T, i); });
      auto pct = [&](double t) { return 100.0 * double(wbytes) / t / kCopyRate; };
      const std::string shape = std::to_string(out) + "x" + std::to_string(in);
      std::printf("%-6s %-12s %8.2f %6.0f %5.1f%% | %5.1f%% %5.1f%% %5.1f%% | %8.2f %8.2f %8.2f | %5.1f%% %5.1f%% %5.1f%% | "
                  "%10.1f %8.1f\n",
                  name(type), shape.c_str(), t_at[0] * 1e6, double(wbytes) / t_at[0] / 1e9, pct(t_at[0]), pct(t_at[1]),
                  pct(t_at[2]), pct(t_at[3]), t_int8 * 1e6, t_f32 * 1e6, t_old * 1e6, pct(t_bps[0]), pct(t_bps[1]),
                  pct(t_bps[2]), tg * 1e6,
                  2.0 * double(T) * double(in) * double(out) / tg / 1e12);
      std::fflush(stdout);
    }
}

void bench_attention(cudaStream_t s, bool quick) {
  const int n_head = 32, n_kv = 8, hd = 128;
  const AttentionSpec spec{n_head, n_kv, hd, 1.f / std::sqrt(float(hd))};
  std::printf("\n%-28s %10s %9s %7s\n", "attention (32/8 heads, hd 128, f16 KV)", "us", "GB/s", "%copy");
  for (int64_t S : {512, 4096}) {
    const int64_t kv_cols = n_kv * hd;
    const auto kv = random_floats(size_t(S * kv_cols), -1.f, 1.f);
    std::vector<uint16_t> kvh(kv.size());
    for (size_t i = 0; i < kv.size(); ++i) kvh[i] = f32_to_f16(kv[i]);
    DeviceMem k(kvh.size() * 2), v(kvh.size() * 2), q(size_t(512 * n_head * hd) * 4), o(size_t(512 * n_head * hd) * 4);
    cuda_ops::check_cuda(cudaMemcpy(k.p, kvh.data(), kvh.size() * 2, cudaMemcpyHostToDevice), kOp, "cudaMemcpy");
    cuda_ops::check_cuda(cudaMemcpy(v.p, kvh.data(), kvh.size() * 2, cudaMemcpyHostToDevice), kOp, "cudaMemcpy");
    const auto qv = random_floats(size_t(512 * n_head * hd), -1.f, 1.f);
    cuda_ops::check_cuda(cudaMemcpy(q.p, qv.data(), qv.size() * 4, cudaMemcpyHostToDevice), kOp, "cudaMemcpy");
    const Tensor kt = device_view(k.p, DType::F16, S, kv_cols), vt = device_view(v.p, DType::F16, S, kv_cols);
    for (int T : {1, 4}) {
      for (bool old_path : {false, true}) {  // the new flash-decoding kernel, then the previous one
        if (old_path) ::setenv("LLMR_CUDA_OLD_KERNELS", "1", 1);
        std::vector<int32_t> pos(static_cast<size_t>(T));
        for (int i = 0; i < T; ++i) pos[size_t(i)] = int32_t(S - T + i);
        const double t = median_time(s, quick ? 5 : 21, 20, [&](int) {
          cuda_ops::attention(device_view(q.p, DType::F32, T, n_head * hd), kt, vt, pos, spec,
                              device_view(o.p, DType::F32, T, n_head * hd), s, nullptr);
        });
        ::unsetenv("LLMR_CUDA_OLD_KERNELS");
        const double bytes = double(S) * double(kv_cols) * 2 * 2;
        const std::string label = "decode T=" + std::to_string(T) + " S=" + std::to_string(S) + (old_path ? " (old)" : "");
        std::printf("%-28s %10.2f %9.0f %6.1f%%\n", label.c_str(), t * 1e6, bytes / t / 1e9, 100.0 * bytes / t / kCopyRate);
      }
    }
    if (S == 512) {
      std::vector<int32_t> pos(512);
      for (int i = 0; i < 512; ++i) pos[size_t(i)] = i;
      for (bool old_path : {false, true}) {  // the flash-decoding kernel, then the previous one
        if (old_path) ::setenv("LLMR_CUDA_OLD_KERNELS", "prefill", 1);
        const double tp = median_time(s, quick ? 3 : 11, 5, [&](int) {
          cuda_ops::attention(device_view(q.p, DType::F32, 512, n_head * hd), kt, vt, pos, spec,
                              device_view(o.p, DType::F32, 512, n_head * hd), s, nullptr);
        });
        ::unsetenv("LLMR_CUDA_OLD_KERNELS");
        const double flops = 4.0 * hd * n_head * (512.0 * 513.0 / 2);  // QK and PV over the causal keys
        std::printf("prefill T=512%-15s %10.2f %9s %7s  (%.1f TFLOP/s)\n", old_path ? " (old)" : "", tp * 1e6, "-", "-",
                    flops / tp / 1e12);
      }
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
    bench_matmul(s, cublas, quick);
    bench_attention(s, quick);
    cublasDestroy(cublas);
    cudaStreamDestroy(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_matmul_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
