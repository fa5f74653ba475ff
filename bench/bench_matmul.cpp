// Matmul throughput per weight type: T = 1 (generation; GB/s of weight bytes read) and T = 64
// (prompt processing; GFLOP/s), CPU backend at 4096 x 4096, reference at 512 x 512 (it is slow).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/reference/reference_backend.h"
#include "tensor/quant.h"

namespace {

using namespace llmr;

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                        DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

CpuBackend& cpu_backend() {
  static CpuBackend b;
  return b;
}

void run(benchmark::State& state, Backend& be, DType type, int64_t T, int64_t n) {
  std::mt19937 g(42);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  HostBuffer w(type, {n, n}), x(DType::F32, {T, n}), y(DType::F32, {T, n});
  std::vector<float> row(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    for (auto& v : row) v = d(g);
    quantize_row(type, row.data(), w.tensor().row(r), n);
  }
  for (int64_t i = 0; i < T * n; ++i) static_cast<float*>(x.data())[i] = d(g);
  for (auto _ : state) {
    be.matmul(x.tensor(), w.tensor(), nullptr, y.tensor());
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = double(row_bytes(type, n)) * double(n);
  state.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(T) * double(n) * double(n) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(name(type)) + " T=" + std::to_string(T) + " n=" + std::to_string(n));
}

void register_all() {
  static ReferenceBackend ref;
  for (DType t : kTypes) {
    for (int64_t T : {1, 64}) {
      benchmark::RegisterBenchmark((std::string("cpu/") + name(t) + "/T" + std::to_string(T)).c_str(),
                                   [t, T](benchmark::State& s) { run(s, cpu_backend(), t, T, 4096); })
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark((std::string("reference/") + name(t) + "/T" + std::to_string(T)).c_str(),
                                   [t, T](benchmark::State& s) { run(s, ref, t, T, 512); })
          ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
