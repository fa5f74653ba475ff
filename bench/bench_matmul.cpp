// Matmul throughput per weight type: T = 1 (generation; GB/s of weight bytes read) and T = 64
// (prompt processing; GFLOP/s), CPU backend at 4096 x 4096, reference at 512 x 512 (it is slow).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/reference/reference_backend.h"
#include "tensor/quant.h"

namespace {

using namespace llmr;

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                        DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// LLMR_BENCH_THREADS=1 makes the CPU column the whole work's time: steady on a loaded machine.
CpuBackend& cpu_backend() {
  static CpuBackend b(std::getenv("LLMR_BENCH_THREADS") ? std::atoi(std::getenv("LLMR_BENCH_THREADS")) : 0);
  return b;
}

void run(benchmark::State& state, Backend& be, DType type, int64_t T, int64_t n, int64_t n_out = 0) {
  if (n_out == 0) n_out = n;
  std::mt19937 g(42);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  HostBuffer w(type, {n_out, n}), x(DType::F32, {T, n}), y(DType::F32, {T, n_out});
  std::vector<float> row(static_cast<size_t>(n));
  for (int64_t r = 0; r < n_out; ++r) {
    for (auto& v : row) v = d(g);
    quantize_row(type, row.data(), w.tensor().row(r), n);
  }
  for (int64_t i = 0; i < T * n; ++i) static_cast<float*>(x.data())[i] = d(g);
  // as a model places it (the CPU repacks q8_0 unless LLMR_CPU_REPACK=0)
  const auto placed = be.upload_matmul_weight(w.tensor());
  for (auto _ : state) {
    be.matmul(x.tensor(), placed->tensor(), nullptr, y.tensor());
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = double(row_bytes(type, n)) * double(n_out);
  state.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(T) * double(n) * double(n_out) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(name(type)) + " T=" + std::to_string(T) + " " + std::to_string(n_out) + "x" +
                 std::to_string(n));
}

// The matrices of a llama3-1b layer (q/o, k/v, gate/up, down) and its output matrix, out x in.
constexpr int64_t kLlamaShapes[][2] = {{2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};

void register_all() {
  static ReferenceBackend ref;
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K})
    for (int64_t T : {1, 64})
      for (const auto& s : kLlamaShapes) {
        const int64_t out = s[0], in = s[1];
        benchmark::RegisterBenchmark((std::string("llama3-1b/") + name(t) + "/T" + std::to_string(T) + "/" +
                                      std::to_string(out) + "x" + std::to_string(in)).c_str(),
                                     [t, T, out, in](benchmark::State& st) { run(st, cpu_backend(), t, T, in, out); })
            ->Unit(benchmark::kMillisecond)->UseRealTime();
      }
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
