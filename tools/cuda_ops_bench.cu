// GPU microbenchmark of the non-matmul ops of the CUDA backend (CUDA events, warm-up, median of
// repeated batches, inputs rotated over enough copies to exceed the 50 MB L2 for the large shapes).
// Prints per op and shape: median time per call, GB/s of the fewest bytes the op must move (each input
// read once, each output written once) and that as a share of the 4.28 TB/s device copy rate (and of
// the copy rate measured here first). RMSNorm: f32/f16/bf16, 1 and 512 rows x 4096/16384, and the
// fused rms_norm_residual against the unfused add + rms_norm it replaces.
// Usage: cuda_ops_bench [--quick]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "tensor/quant.h"

using namespace llmr;
using cuda_detail::cuda_check;

namespace {

constexpr double kCopyRate = 4.28e12;  // bytes/s, H200 device-to-device copy (issue 4)
constexpr size_t kRotateBytes = size_t(160) << 20;  // > 3x the H200's L2
const char* kOp = "cuda_ops_bench";

int g_batches = 25, g_per_batch = 20;
double g_measured_copy = 0;  // bytes/s, read + write, measured below

std::mt19937 gen(20261129);

std::vector<float> random_floats(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

// A device tensor of random values in [lo, hi) (never zeros: they can run faster than real data).
std::unique_ptr<Buffer> random_tensor(CudaBackend& be, DType type, int64_t rows, int64_t cols, float lo = -1.f,
                                      float hi = 1.f) {
  // 61 distinct random rows, repeated: quick to make for large tables, and no two neighbours equal.
  const int64_t distinct = std::min<int64_t>(rows, 61);
  const auto v = random_floats(size_t(distinct * cols), lo, hi);
  HostBuffer host(type, {rows, cols});
  const size_t rb = row_bytes(type, cols);
  for (int64_t r = 0; r < distinct; ++r) quantize_row(type, v.data() + r * cols, host.tensor().row(r), cols);
  for (int64_t r = distinct; r < rows; ++r) std::memcpy(host.tensor().row(r), host.tensor().row(r % distinct), rb);
  return be.upload(host.tensor());
}

// How many input sets to rotate over so one round of calls touches more than the L2 holds.
int rotation(size_t bytes_per_call) {
  return int(std::clamp<size_t>(kRotateBytes / std::max<size_t>(bytes_per_call, 1), 1, 8));
}

// Median over batches of the mean seconds per call of fn(i).
double median_time(CudaBackend& be, const std::function<void(int)>& fn) {
  for (int i = 0; i < 5; ++i) fn(i);  // warm-up: module load, first-touch of memory
  be.synchronize();
  cudaEvent_t a, b;
  cuda_check(cudaEventCreate(&a), kOp, "cudaEventCreate");
  cuda_check(cudaEventCreate(&b), kOp, "cudaEventCreate");
  std::vector<double> times;
  int call = 0;
  for (int k = 0; k < g_batches; ++k) {
    cuda_check(cudaEventRecord(a, be.stream()), kOp, "cudaEventRecord");
    for (int i = 0; i < g_per_batch; ++i) fn(call++);
    cuda_check(cudaEventRecord(b, be.stream()), kOp, "cudaEventRecord");
    cuda_check(cudaEventSynchronize(b), kOp, "cudaEventSynchronize");
    float ms = 0;
    cuda_check(cudaEventElapsedTime(&ms, a, b), kOp, "cudaEventElapsedTime");
    times.push_back(double(ms) * 1e-3 / g_per_batch);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void report(const std::string& op, const std::string& shape, double seconds, double bytes, const std::string& note = "") {
  const double rate = bytes / seconds;
  std::printf("%-26s %-22s %10.2f %9.1f %7.1f%% %7.1f%%  %s\n", op.c_str(), shape.c_str(), seconds * 1e6, rate * 1e-9,
              100.0 * rate / kCopyRate, g_measured_copy > 0 ? 100.0 * rate / g_measured_copy : 0.0, note.c_str());
}

std::string dims(int64_t rows, int64_t cols) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "[%lld, %lld]", (long long)rows, (long long)cols);
  return buf;
}

void measure_copy_ceiling(CudaBackend& be) {
  const size_t bytes = size_t(1) << 30;
  DeviceBytes src(bytes), dst(bytes);
  cuda_check(cudaMemsetAsync(src.get(), 0x3c, bytes, be.stream()), kOp, "cudaMemsetAsync");
  const double t = median_time(be, [&](int) {
    cuda_check(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, be.stream()), kOp, "cudaMemcpyAsync");
  });
  g_measured_copy = 2.0 * double(bytes) / t;
  report("memcpy d2d (ceiling)", "1 GiB", t, 2.0 * double(bytes));
}

void bench_rms_norm(CudaBackend& be) {
  for (DType type : {DType::F32, DType::F16, DType::BF16})
    for (int64_t rows : {1, 512})
      for (int64_t n : {4096, 16384}) {
        const size_t tensor_bytes = size_t(rows) * row_bytes(type, n);
        const int sets = rotation(2 * tensor_bytes);
        std::vector<std::unique_ptr<Buffer>> xs, ys;
        for (int s = 0; s < sets; ++s) {
          xs.push_back(random_tensor(be, type, rows, n, -2.f, 2.f));
          ys.push_back(be.alloc(type, {rows, n}));
        }
        auto w = random_tensor(be, DType::F32, 1, n, 0.5f, 1.5f);
        const Tensor wt = w->tensor().slice_rows(0, 1);
        const double t = median_time(be, [&](int i) {
          be.rms_norm(xs[i % sets]->tensor(), wt, 1e-5f, ys[i % sets]->tensor());
        });
        report(std::string("rms_norm ") + name(type), dims(rows, n), t, 2.0 * double(tensor_bytes) + 4.0 * double(n));
      }
}

// The fused op against the sequence it replaces: add (x + residual -> sum) then rms_norm (sum -> y).
void bench_rms_norm_residual(CudaBackend& be) {
  for (DType type : {DType::F32, DType::F16, DType::BF16})
    for (int64_t rows : {1, 512})
      for (int64_t n : {4096, 16384}) {
        const size_t tensor_bytes = size_t(rows) * row_bytes(type, n);
        const int sets = rotation(4 * tensor_bytes);
        std::vector<std::unique_ptr<Buffer>> xs, rs, sums, ys;
        for (int s = 0; s < sets; ++s) {
          xs.push_back(random_tensor(be, type, rows, n));
          rs.push_back(random_tensor(be, type, rows, n));
          sums.push_back(be.alloc(type, {rows, n}));
          ys.push_back(be.alloc(type, {rows, n}));
        }
        auto w = random_tensor(be, DType::F32, 1, n, 0.5f, 1.5f);
        const Tensor wt = w->tensor().slice_rows(0, 1);
        const double fused = median_time(be, [&](int i) {
          const int s = i % sets;
          be.rms_norm_residual(xs[s]->tensor(), rs[s]->tensor(), wt, 1e-5f, sums[s]->tensor(), ys[s]->tensor());
        });
        const double fused_bytes = 4.0 * double(tensor_bytes) + 4.0 * double(n);
        std::string note;
        if (type == DType::F32) {  // add exists for f32 only
          const double unfused = median_time(be, [&](int i) {
            const int s = i % sets;
            be.add(xs[s]->tensor(), rs[s]->tensor(), sums[s]->tensor());
            be.rms_norm(sums[s]->tensor(), wt, 1e-5f, ys[s]->tensor());
          });
          char buf[128];
          std::snprintf(buf, sizeof buf, "unfused add+rms_norm %.2f us: fused is %.2fx faster", unfused * 1e6,
                        unfused / fused);
          note = buf;
        }
        report(std::string("rms_norm_residual ") + name(type), dims(rows, n), fused, fused_bytes, note);
      }
}

void bench_elementwise(CudaBackend& be) {
  for (int64_t rows : {1, 512}) {
    const int64_t n = 14336;
    const size_t bytes = size_t(rows * n) * 4;
    const int sets = rotation(3 * bytes);
    std::vector<std::unique_ptr<Buffer>> g, u, o;
    for (int s = 0; s < sets; ++s) {
      g.push_back(random_tensor(be, DType::F32, rows, n, -4.f, 4.f));
      u.push_back(random_tensor(be, DType::F32, rows, n));
      o.push_back(be.alloc(DType::F32, {rows, n}));
    }
    const double ts = median_time(be, [&](int i) { be.swiglu(g[i % sets]->tensor(), u[i % sets]->tensor(), o[i % sets]->tensor()); });
    report("swiglu f32", dims(rows, n), ts, 3.0 * double(bytes));
    const double ta = median_time(be, [&](int i) { be.add(g[i % sets]->tensor(), u[i % sets]->tensor(), o[i % sets]->tensor()); });
    report("add f32", dims(rows, n), ta, 3.0 * double(bytes));
  }
}

void bench_rope(CudaBackend& be) {
  const int heads = 32, hd = 128;
  std::vector<float> inv_freq(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv_freq[size_t(i)] = float(std::pow(500000.0, -2.0 * i / hd));
  for (RopeLayout layout : {RopeLayout::NeoX, RopeLayout::Interleaved})
    for (int64_t rows : {1, 512}) {
      const size_t bytes = size_t(rows) * heads * hd * 4;
      const int sets = rotation(2 * bytes);
      std::vector<std::unique_ptr<Buffer>> xs;
      for (int s = 0; s < sets; ++s) xs.push_back(random_tensor(be, DType::F32, rows, heads * hd));
      std::vector<int32_t> pos(static_cast<size_t>(rows));
      for (int64_t t = 0; t < rows; ++t) pos[size_t(t)] = int32_t(1000 + t);
      const RopeSpec spec{hd, hd, layout, inv_freq.data()};
      const double t = median_time(be, [&](int i) { be.rope(xs[i % sets]->tensor(), heads, pos, spec); });
      report(std::string("rope ") + (layout == RopeLayout::NeoX ? "neox" : "interleaved"), dims(rows, heads * hd) + " 32x128",
             t, 2.0 * double(bytes));
    }
}

void bench_softmax(CudaBackend& be) {
  for (auto [rows, n] : {std::pair<int64_t, int64_t>{1, 128256}, {64, 32000}, {512, 4096}}) {
    const size_t bytes = size_t(rows * n) * 4;
    const int sets = rotation(2 * bytes);
    std::vector<std::unique_ptr<Buffer>> xs;
    for (int s = 0; s < sets; ++s) xs.push_back(random_tensor(be, DType::F32, rows, n, -10.f, 10.f));
    const double t = median_time(be, [&](int i) { be.softmax(xs[i % sets]->tensor()); });
    report("softmax f32", dims(rows, n), t, 2.0 * double(bytes), "in place; reads the row twice (2nd from cache)");
  }
}

void bench_copy(CudaBackend& be) {
  const std::pair<DType, DType> pairs[] = {{DType::F32, DType::F16}, {DType::F16, DType::F32}, {DType::F32, DType::BF16},
                                           {DType::BF16, DType::F32}, {DType::F16, DType::F16}};
  for (auto [from, to] : pairs)
    for (auto [rows, n] : {std::pair<int64_t, int64_t>{1, 1024}, {512, 4096}, {4096, 4096}}) {
      const size_t in_bytes = size_t(rows) * row_bytes(from, n), out_bytes = size_t(rows) * row_bytes(to, n);
      const int sets = rotation(in_bytes + out_bytes);
      std::vector<std::unique_ptr<Buffer>> src, dst;
      for (int s = 0; s < sets; ++s) {
        src.push_back(random_tensor(be, from, rows, n));
        dst.push_back(be.alloc(to, {rows, n}));
      }
      const double t = median_time(be, [&](int i) { be.copy(src[i % sets]->tensor(), dst[i % sets]->tensor()); });
      report(std::string("copy ") + name(from) + "->" + name(to), dims(rows, n), t, double(in_bytes + out_bytes));
    }
}

void bench_embedding(CudaBackend& be) {
  const int64_t vocab = 32000, dim = 4096;
  for (DType type : {DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    auto table = random_tensor(be, type, vocab, dim);
    for (int64_t T : {1, 512}) {
      std::vector<int32_t> ids(static_cast<size_t>(T));
      std::uniform_int_distribution<int32_t> pick(0, int32_t(vocab - 1));
      for (auto& id : ids) id = pick(gen);
      auto out = be.alloc(DType::F32, {T, dim});
      const double t = median_time(be, [&](int) { be.embedding(table->tensor(), ids, out->tensor()); });
      report(std::string("embedding ") + name(type), dims(T, dim), t,
             double(T) * (double(row_bytes(type, dim)) + 4.0 * double(dim)));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string why = cuda_unavailable_reason();
  if (!why.empty()) {
    std::fprintf(stderr, "cuda_ops_bench: no CUDA device (%s)\n", why.c_str());
    return 1;
  }
  if (argc > 1 && std::strcmp(argv[1], "--quick") == 0) g_batches = 7, g_per_batch = 5;
  try {
    CudaBackend be(0);
    std::printf("cuda_ops_bench on %s (%d SMs); median of %d batches of %d calls\n", be.properties().name,
                be.properties().multiProcessorCount, g_batches, g_per_batch);
    std::printf("%-26s %-22s %10s %9s %8s %8s\n", "op", "shape", "us/call", "GB/s", "of 4.28", "of meas");
    measure_copy_ceiling(be);
    bench_rms_norm(be);
    bench_rms_norm_residual(be);
    bench_rope(be);
    bench_elementwise(be);
    bench_softmax(be);
    bench_copy(be);
    bench_embedding(be);
  } catch (const Error& e) {
    std::fprintf(stderr, "cuda_ops_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
