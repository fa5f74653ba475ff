// GEMV shapes of a decode step timed as a decode step runs them: 20 calls captured in a CUDA graph,
// replayed, median of 15 replays (launch gaps as in the decode graph, no host launch cost), weights
// rotated over copies that together exceed the L2 cache. Compares the default path (cuda_ops::matmul)
// with the previous default (LLMR_CUDA_XREG=0), without programmatic dependent launch, and the
// register-held-activation kernel (gemv_xreg) over its rows-per-warp x k-split grid; every output
// is checked against the previous default's. Usage: cuda_gemv_bench [T [TYPE [ROWSxCOLS]]] (TYPE and
// the shape pick one case, for profilers).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/gemv_xreg.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/matmul_kernels.h"
#include "cuda_bench_util.h"

using namespace llmr;
using bench_util::DeviceMem;
using bench_util::device_view;

namespace {

constexpr double kCopyRate = 4.28e12;
const char* kOp = "bench";

std::vector<float> download(const DeviceMem& m, size_t n) {
  std::vector<float> v(n);
  cuda_ops::check_cuda(cudaMemcpy(v.data(), m.p, n * 4, cudaMemcpyDeviceToHost), kOp, "download");
  return v;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, double(std::fabs(a[i] - b[i])));
    den = std::max(den, double(std::fabs(b[i])));
  }
  return den > 0 ? num / den : num;
}

}  // namespace

int main(int argc, char** argv) {
  const int T = argc > 1 ? std::atoi(argv[1]) : 1;
  const char* only_type = argc > 2 ? argv[2] : nullptr;
  long long only_rows = 0, only_cols = 0;
  if (argc > 3 && std::sscanf(argv[3], "%lldx%lld", &only_rows, &only_cols) != 2) {
    std::fprintf(stderr, "shape must be ROWSxCOLS, not %s\n", argv[3]);
    return 2;
  }
  cudaStream_t s;
  cuda_ops::check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), kOp, "stream");
  const DType types[] = {DType::Q4_0, DType::Q4_0C, DType::Q8_0, DType::Q4_K, DType::Q4_KC, DType::Q6_K, DType::F16};
  const int64_t shapes[][2] = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}, {128256, 4096}};
  std::printf("T=%d; us per call in a graph of 20 (%%copy of %.2f TB/s): default routing, LLMR_CUDA_XREG=0, "
              "LLMR_CUDA_PDL=0; then quantize_x + gemv_xreg at R rows/warp, KS k-split (* = picked)\n",
              T, kCopyRate / 1e12);
  for (DType type : types)
    for (const auto& sh : shapes) {
      const int64_t out = sh[0], in = sh[1];
      if ((only_type && std::string(only_type) != name(type)) || (only_rows && (out != only_rows || in != only_cols))) continue;
      const size_t wbytes = row_bytes(type, in) * size_t(out);
      const int copies = int(std::clamp<size_t>((size_t(256) << 20) / wbytes + 1, 1, 64));
      const auto w = bench_util::weight_copies(type, out, in, copies);
      const auto xv = bench_util::random_floats(size_t(T * in), -1.f, 1.f);
      DeviceMem x(xv.size() * 4), y(size_t(T * out) * 4), y2(size_t(T * out) * 4),
          xq(size_t(T) * size_t(in / 32) * sizeof(cuda_ops::XBlock));
      cudaMemcpy(x.p, xv.data(), xv.size() * 4, cudaMemcpyHostToDevice);
      auto base = [&](int i) {
        cuda_ops::matmul(device_view(x.p, DType::F32, T, in), device_view(w[size_t(i % copies)]->p, type, out, in),
                         nullptr, device_view(y.p, DType::F32, T, out), s, nullptr);
      };
      auto pct = [&](double t) { return 100.0 * double(wbytes) / t / kCopyRate; };
      ::setenv("LLMR_CUDA_XREG", "0", 1);
      const double t_old = bench_util::graph_seconds_per_call(s, 20, base);
      base(0);
      cudaStreamSynchronize(s);
      const auto want = download(y, size_t(T * out));
      ::unsetenv("LLMR_CUDA_XREG");
      ::setenv("LLMR_CUDA_PDL", "0", 1);
      const double t_nopdl = bench_util::graph_seconds_per_call(s, 20, base);
      ::unsetenv("LLMR_CUDA_PDL");
      const double t_base = bench_util::graph_seconds_per_call(s, 20, base);
      base(0);
      cudaStreamSynchronize(s);
      const double err_base = max_rel_diff(download(y, size_t(T * out)), want);
      std::printf("%-5s %6lldx%-6lld default %7.2f (%4.1f%%)%s | xreg off %7.2f (%4.1f%%) | pdl off %7.2f\n", name(type),
                  (long long)out, (long long)in, t_base * 1e6, pct(t_base), err_base > 1e-3 ? " !ERR" : "",
                  t_old * 1e6, pct(t_old), t_nopdl * 1e6);
      if (!cuda_ops::xreg_applies(type, T, int(in / 32), w[0]->p, int64_t(row_bytes(type, in)))) continue;
      const auto pick = cuda_ops::xreg_shape(type, out, int(in / 32), T);
      std::printf("   xreg");
      for (auto [r, d] : {std::pair{2, 0}, std::pair{2, 1}, std::pair{2, 2}, std::pair{2, 4}, std::pair{4, 1}})
        for (int ks : {1, 2, 4, 8}) {
          if (is_internal(type) && d > 1) continue;  // the regrouped layouts have rings of one chunk
          // depth 0 (whole rows in shared memory): regrouped rows that fit, no k-split
          if (d == 0 && (!is_internal(type) || ks != 1 || !cuda_ops::xreg_shared_fits(int(in / 32)))) continue;
          auto run = [&](int i) {
            cuda_ops::quantize_x(static_cast<const float*>(x.p), in, in, T, static_cast<cuda_ops::XBlock*>(xq.p), s);
            const cuda_ops::XregArgs a{static_cast<const uint8_t*>(w[size_t(i % copies)]->p), int64_t(row_bytes(type, in)),
                                       out, int(in / 32), static_cast<const cuda_ops::XBlock*>(xq.p), T, nullptr,
                                       static_cast<float*>(y2.p), out, false, s};
            if (!cuda_ops::launch_xreg(type, a, {r, ks, d})) throw Error("no xreg kernel");
          };
          const double t = bench_util::graph_seconds_per_call(s, 20, run);
          run(0);
          cudaStreamSynchronize(s);
          const double err = max_rel_diff(download(y2, size_t(T * out)), want);
          const bool picked = r == pick.rows_per_warp && ks == pick.k_split && d == pick.depth;
          std::printf(" R%dD%dK%d%s%.2f(%.0f%%)%s", r, d, ks, picked ? "*" : ":", t * 1e6, pct(t), err > 1e-3 ? "!ERR" : "");
        }
      std::printf("\n");
      std::fflush(stdout);
    }
  return 0;
}
