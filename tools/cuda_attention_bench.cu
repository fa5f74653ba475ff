// GPU microbenchmark of prompt attention (CudaBackend::attention) on Llama-3-8B shapes: 32 query
// heads, 8 KV heads, head_dim 128, f16 KV cache; T = 512 and 2048 new tokens from position 0, and
// T = 512 continuing 1536 cached rows. Each shape runs with the tensor-core kernel
// (attention_prefill_mma.cu, the default) and with LLMR_CUDA_FLASH_MMA=0 (attention_decode.cu's
// f32 kernel): median of 20 timed calls (CUDA events, after warm-up), us per call and TFLOP/s of the
// causal work (4 * head_dim flops per visible (query head, key) pair: Q K^T and P V), and the largest
// difference between the two outputs. The same with a q8_0 KV cache (--kv-type q8_0: tiles
// dequantized to f16 in the tensor-core kernel, levels read per lane in the f32 one), and decode steps
// (T = 1) over 4096 and 16384 cached rows, f16 against q8_0: us per call and GB/s of K/V rows read.
// Usage: cuda_attention_bench [--quick]
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

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "tensor/half.h"

using namespace llmr;
using cuda_detail::cuda_check;

namespace {

const char* kOp = "cuda_attention_bench";
int g_runs = 20;

std::mt19937 gen(20261129);

std::unique_ptr<Buffer> random_tensor(CudaBackend& be, DType type, int64_t rows, int64_t cols, float lo, float hi) {
  if (type == DType::Q8_0) {  // f32 values quantized on the device (copy into a q8_0 tensor)
    auto f32 = random_tensor(be, DType::F32, rows, cols, lo, hi);
    auto q8 = be.alloc(DType::Q8_0, {rows, cols});
    be.copy(f32->tensor(), q8->tensor());
    be.synchronize();
    return q8;
  }
  std::uniform_real_distribution<float> d(lo, hi);
  HostBuffer host(type, {rows, cols});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float x = d(gen);
      if (type == DType::F16) host.tensor().row<uint16_t>(r)[c] = f32_to_f16(x);
      else host.tensor().row<float>(r)[c] = x;
    }
  return be.upload(host.tensor());
}

// Median seconds of one call over g_runs timed calls, after 3 warm-up calls.
template <typename F>
double median_time(CudaBackend& be, F&& fn) {
  for (int i = 0; i < 3; ++i) fn();
  be.synchronize();
  cudaEvent_t a, b;
  cuda_check(cudaEventCreate(&a), kOp, "cudaEventCreate");
  cuda_check(cudaEventCreate(&b), kOp, "cudaEventCreate");
  std::vector<double> times;
  for (int i = 0; i < g_runs; ++i) {
    cuda_check(cudaEventRecord(a, be.stream()), kOp, "cudaEventRecord");
    fn();
    cuda_check(cudaEventRecord(b, be.stream()), kOp, "cudaEventRecord");
    cuda_check(cudaEventSynchronize(b), kOp, "cudaEventSynchronize");
    float ms = 0;
    cuda_check(cudaEventElapsedTime(&ms, a, b), kOp, "cudaEventElapsedTime");
    times.push_back(double(ms) * 1e-3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void bench(CudaBackend& be, int64_t T, int32_t prefix, DType kv_type = DType::F16) {
  const int n_head = 32, n_kv = 8, hd = 128;
  const AttentionSpec spec{n_head, n_kv, hd, 1.f / std::sqrt(float(hd))};
  const int64_t n_ctx = prefix + T;
  auto q = random_tensor(be, DType::F32, T, int64_t(n_head) * hd, -3.f, 3.f);
  auto k = random_tensor(be, kv_type, n_ctx, int64_t(n_kv) * hd, -1.f, 1.f);
  auto v = random_tensor(be, kv_type, n_ctx, int64_t(n_kv) * hd, -2.f, 2.f);
  auto out_mma = be.alloc(DType::F32, {T, int64_t(n_head) * hd});
  auto out_f32 = be.alloc(DType::F32, {T, int64_t(n_head) * hd});
  std::vector<int32_t> pos(static_cast<size_t>(T));
  double pairs = 0;  // visible (query token, key) pairs
  for (int64_t t = 0; t < T; ++t) {
    pos[size_t(t)] = prefix + int32_t(t);
    pairs += double(pos[size_t(t)]) + 1;
  }
  const double flops = 4.0 * hd * n_head * pairs;

  ::unsetenv("LLMR_CUDA_FLASH_MMA");
  const double t_mma = median_time(be, [&] { be.attention(q->tensor(), k->tensor(), v->tensor(), pos, spec, out_mma->tensor()); });
  ::setenv("LLMR_CUDA_FLASH_MMA", "0", 1);
  const double t_f32 = median_time(be, [&] { be.attention(q->tensor(), k->tensor(), v->tensor(), pos, spec, out_f32->tensor()); });
  ::unsetenv("LLMR_CUDA_FLASH_MMA");

  std::vector<float> a(size_t(T * n_head * hd)), b(a.size());
  be.download(out_mma->tensor(), a.data());
  be.download(out_f32->tensor(), b.data());
  be.synchronize();
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(a[i] - b[i])));

  const std::string shape = "T " + std::to_string(T) + " prefix " + std::to_string(prefix) + " " + name(kv_type);
  std::printf("%-20s %-12s %10.1f %9.1f\n", shape.c_str(), "mma (f16)", t_mma * 1e6, flops / t_mma * 1e-12);
  std::printf("%-20s %-12s %10.1f %9.1f   speedup %.2fx, max |mma - f32| %.2e\n", shape.c_str(), "f32 (decode)",
              t_f32 * 1e6, flops / t_f32 * 1e-12, t_f32 / t_mma, max_diff);
}

// One decode step (T = 1, GQA 4) over n_ctx cached rows: us per call and GB/s of the K/V rows read.
void bench_decode(CudaBackend& be, int64_t n_ctx, DType kv_type) {
  const int n_head = 32, n_kv = 8, hd = 128;
  const AttentionSpec spec{n_head, n_kv, hd, 1.f / std::sqrt(float(hd))};
  auto q = random_tensor(be, DType::F32, 1, int64_t(n_head) * hd, -3.f, 3.f);
  auto k = random_tensor(be, kv_type, n_ctx, int64_t(n_kv) * hd, -1.f, 1.f);
  auto v = random_tensor(be, kv_type, n_ctx, int64_t(n_kv) * hd, -2.f, 2.f);
  auto out = be.alloc(DType::F32, {1, int64_t(n_head) * hd});
  const std::vector<int32_t> pos{int32_t(n_ctx - 1)};
  const double t = median_time(be, [&] { be.attention(q->tensor(), k->tensor(), v->tensor(), pos, spec, out->tensor()); });
  const double bytes = 2.0 * double(n_ctx) * double(row_bytes(kv_type, int64_t(n_kv) * hd));
  const std::string shape = "T 1 ctx " + std::to_string(n_ctx) + " " + name(kv_type);
  std::printf("%-20s %-12s %10.1f %9s   %.0f GB/s of K/V\n", shape.c_str(), "decode", t * 1e6, "-", bytes / t * 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string why = cuda_unavailable_reason();
  if (!why.empty()) {
    std::fprintf(stderr, "cuda_attention_bench: no CUDA device (%s)\n", why.c_str());
    return 1;
  }
  if (argc > 1 && std::strcmp(argv[1], "--quick") == 0) g_runs = 5;
  try {
    CudaBackend be(0);
    std::printf("cuda_attention_bench on %s (%d SMs): Llama-3-8B attention (32/8 heads, head_dim 128, f16 or q8_0 KV), "
                "median of %d calls\n",
                be.properties().name, be.properties().multiProcessorCount, g_runs);
    std::printf("%-20s %-12s %10s %9s\n", "shape", "kernel", "us/call", "TFLOP/s");
    bench(be, 512, 0);
    bench(be, 2048, 0);
    bench(be, 512, 1536);
    bench(be, 512, 0, DType::Q8_0);
    bench(be, 2048, 0, DType::Q8_0);
    bench(be, 512, 1536, DType::Q8_0);
    for (int64_t ctx : {4096, 16384})
      for (DType kv : {DType::F16, DType::Q8_0}) bench_decode(be, ctx, kv);
  } catch (const Error& e) {
    std::fprintf(stderr, "cuda_attention_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
