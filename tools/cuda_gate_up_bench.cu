// The q4_0c gate|up product with its SwiGLU epilogue (gemv_xreg_swiglu.cu) at one token, timed as a
// decode step runs it (20 calls in a CUDA graph, median of 15 replays, weights rotated over copies
// that exceed the L2), over gate|up heights whose grids fill the multiprocessors unevenly or evenly:
// whether the time follows the bytes, the blocks a multiprocessor takes at most, or neither.
// Usage: cuda_gate_up_bench [COLS]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "backend/cuda/device_limits.h"
#include "backend/cuda/gemv_xreg.h"
#include "backend/cuda/kernel_status.h"
#include "cuda_bench_util.h"

using namespace llmr;
using bench_util::DeviceMem;

namespace {

constexpr double kCopyRate = 4.28e12;
const char* kOp = "bench";

}  // namespace

int main(int argc, char** argv) {
  const int64_t cols = argc > 1 ? std::atoll(argv[1]) : 4096;
  const int sms = cuda_ops::device_limits(kOp).multiprocessors;
  cudaStream_t s;
  cuda_ops::check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), kOp, "stream");
  const DType type = DType::Q4_0C;
  const int units = int(cols / 32);
  const auto xv = bench_util::random_floats(size_t(cols), -1.f, 1.f);
  DeviceMem x(xv.size() * 4), xq(size_t(units) * sizeof(cuda_ops::XBlock));
  cudaMemcpy(x.p, xv.data(), xv.size() * 4, cudaMemcpyHostToDevice);
  cuda_ops::quantize_x(static_cast<const float*>(x.p), cols, cols, 1, static_cast<cuda_ops::XBlock*>(xq.p), s);
  std::printf("q4_0c gate|up + SwiGLU epilogue, %lld columns, %d multiprocessors; us per call in a graph of 20\n",
              (long long)cols, sms);
  std::printf("%8s %7s %11s %9s %8s %8s\n", "half", "blocks", "blocks/SM", "us", "TB/s", "%copy");
  // Heights in blocks of 32 (gate, up) pairs: whole waves of 1..4 blocks a multiprocessor, and Llama-3-8B's 448.
  for (int64_t blocks : {int64_t(sms), int64_t(2 * sms), int64_t(3 * sms), int64_t(448), int64_t(4 * sms)}) {
    const int64_t half = blocks * 32, rows = 2 * half;
    const size_t wbytes = row_bytes(type, cols) * size_t(rows);
    const int copies = int(std::clamp<size_t>((size_t(256) << 20) / wbytes + 1, 2, 64));
    const auto w = bench_util::weight_copies(type, rows, cols, copies);
    DeviceMem out(size_t(blocks) * sizeof(cuda_ops::XBlock));
    auto run = [&](int i) {
      const cuda_ops::XregArgs a{static_cast<const uint8_t*>(w[size_t(i % copies)]->p), int64_t(row_bytes(type, cols)),
                                 rows, units, static_cast<const cuda_ops::XBlock*>(xq.p), 1, nullptr, nullptr, 0,
                                 false, s};
      cuda_ops::launch_xreg_swiglu(type, a, static_cast<cuda_ops::XBlock*>(out.p));
    };
    const double t = bench_util::graph_seconds_per_call(s, 20, run);
    std::printf("%8lld %7lld %11.2f %9.2f %8.2f %7.1f%%\n", (long long)half, (long long)blocks,
                double(blocks) / sms, t * 1e6, double(wbytes) / t / 1e12, 100.0 * double(wbytes) / t / kCopyRate);
    std::fflush(stdout);
  }
  return 0;
}
