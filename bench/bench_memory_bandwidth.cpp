// The machine's memory bandwidth: a large memcpy, bytes read plus bytes written over time. The
// ceiling that CPU generation speed is compared with (docs/PERFORMANCE.md).
#include <benchmark/benchmark.h>

#include <cstring>
#include <thread>
#include <vector>

namespace {

void BM_Memcpy(benchmark::State& state) {
  const size_t bytes = size_t(state.range(0)) << 20;
  const int threads = int(state.range(1));
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  for (auto _ : state) {
    std::vector<std::thread> pool;
    const size_t part = bytes / size_t(threads);
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { std::memcpy(dst.data() + t * part, src.data() + t * part, part); });
    for (auto& th : pool) th.join();
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes) * 2);  // read + write
}

BENCHMARK(BM_Memcpy)->Args({1024, 1})->Args({1024, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
