// Non-matmul op throughput, reference vs cpu, in GB/s of the bytes each op must move (inputs read
// once, outputs written once): rms_norm per type, fused rms_norm_residual vs add + rms_norm, rope,
// swiglu, softmax, and decode attention (1 query, S=4096, 32 heads, 8 kv heads, hd 128) in GB/s of
// KV cache read.
#include <benchmark/benchmark.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/reference/reference_backend.h"
#include "tensor/half.h"

namespace {

using namespace llmr;

Backend& backend(const std::string& which) {
  static CpuBackend cpu;
  static ReferenceBackend ref;
  return which == "cpu" ? static_cast<Backend&>(cpu) : ref;
}

// A contiguous [rows, cols] buffer of random values in [lo, hi).
HostBuffer random_buffer(DType type, int64_t rows, int64_t cols, float lo = -1.f, float hi = 1.f) {
  static std::mt19937 g(7);
  std::uniform_real_distribution<float> d(lo, hi);
  HostBuffer b(type, {rows, cols});
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float v = d(g);
    if (type == DType::F32) static_cast<float*>(b.data())[i] = v;
    if (type == DType::F16) static_cast<uint16_t*>(b.data())[i] = f32_to_f16(v);
    if (type == DType::BF16) static_cast<uint16_t*>(b.data())[i] = f32_to_bf16(v);
  }
  return b;
}

void measure(benchmark::State& state, double bytes, const std::string& label, const std::function<void()>& op) {
  for (auto _ : state) op();
  state.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetLabel(label);
}

double elem(DType t) { return double(info(t).block_bytes); }

void bench_rms_norm(benchmark::State& s, const std::string& be, DType t, int64_t rows, int64_t n) {
  HostBuffer x = random_buffer(t, rows, n), y(t, {rows, n}), w = random_buffer(DType::F32, 1, n);
  measure(s, double(rows * n) * 2 * elem(t) + double(n) * 4, std::string(name(t)) + " " + std::to_string(rows) + "x" + std::to_string(n),
          [&] { backend(be).rms_norm(x.tensor(), w.tensor(), 1e-5f, y.tensor()); });
}

// Both variants are charged the fused op's traffic (read x, residual; write sum, y), so their GB/s
// compare as speed.
void bench_residual(benchmark::State& s, const std::string& be, bool fused, int64_t rows, int64_t n) {
  HostBuffer x = random_buffer(DType::F32, rows, n), r = random_buffer(DType::F32, rows, n), sum(DType::F32, {rows, n}),
             y(DType::F32, {rows, n}), w = random_buffer(DType::F32, 1, n);
  Backend& b = backend(be);
  measure(s, double(rows * n) * 16, std::string(fused ? "fused" : "add+rms_norm") + " f32 " + std::to_string(rows) + "x" + std::to_string(n), [&] {
    if (fused) {
      b.rms_norm_residual(x.tensor(), r.tensor(), w.tensor(), 1e-5f, sum.tensor(), y.tensor());
    } else {
      b.add(x.tensor(), r.tensor(), sum.tensor());
      b.rms_norm(sum.tensor(), w.tensor(), 1e-5f, y.tensor());
    }
  });
}

void bench_rope(benchmark::State& s, const std::string& be, RopeLayout layout, int64_t tokens) {
  const int heads = 32, hd = 128;
  HostBuffer x = random_buffer(DType::F32, tokens, heads * hd);
  std::vector<float> inv_freq(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv_freq[i] = float(std::pow(500000.0, -2.0 * i / hd));
  std::vector<int32_t> pos(static_cast<size_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t) pos[t] = int32_t(100 + t);
  const RopeSpec spec{hd, hd, layout, inv_freq.data()};
  measure(s, double(tokens * heads * hd) * 8,
          std::string(layout == RopeLayout::NeoX ? "neox" : "interleaved") + " " + std::to_string(tokens) + "x32x128",
          [&] { backend(be).rope(x.tensor(), heads, pos, spec); });
}

void bench_swiglu(benchmark::State& s, const std::string& be, int64_t rows, int64_t n) {
  HostBuffer g = random_buffer(DType::F32, rows, n, -6.f, 6.f), u = random_buffer(DType::F32, rows, n), o(DType::F32, {rows, n});
  measure(s, double(rows * n) * 12, std::to_string(rows) + "x" + std::to_string(n),
          [&] { backend(be).swiglu(g.tensor(), u.tensor(), o.tensor()); });
}

void bench_softmax(benchmark::State& s, const std::string& be, int64_t rows, int64_t n) {
  HostBuffer x = random_buffer(DType::F32, rows, n, -10.f, 10.f);
  measure(s, double(rows * n) * 8, std::to_string(rows) + "x" + std::to_string(n),
          [&] { backend(be).softmax(x.tensor()); });  // the values shrink run to run; cost does not depend on them
}

void bench_attention_decode(benchmark::State& s, const std::string& be, DType cache) {
  const int64_t S = 4096;
  const AttentionSpec spec{32, 8, 128, 1.f / std::sqrt(128.f)};
  HostBuffer q = random_buffer(DType::F32, 1, 32 * 128), out(DType::F32, {1, 32 * 128});
  HostBuffer k = random_buffer(cache, S, 8 * 128), v = random_buffer(cache, S, 8 * 128);
  const std::vector<int32_t> pos{int32_t(S - 1)};
  measure(s, 2.0 * double(S * 8 * 128) * elem(cache), std::string("kv ") + name(cache) + " S=4096 32/8 heads hd128",
          [&] { backend(be).attention(q.tensor(), k.tensor(), v.tensor(), pos, spec, out.tensor()); });
}

void add(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), fn)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.2);
}

void register_all() {
  for (std::string be : {"reference", "cpu"}) {
    for (DType t : {DType::F32, DType::F16, DType::BF16})
      for (int64_t n : {4096, 16384})
        for (int64_t rows : {1, 512})
          add(be + "/rms_norm/" + name(t) + "/" + std::to_string(rows) + "x" + std::to_string(n),
              [=](benchmark::State& s) { bench_rms_norm(s, be, t, rows, n); });
    for (int64_t rows : {1, 512})
      for (bool fused : {true, false})
        add(be + "/rms_norm_residual/" + (fused ? "fused/" : "add+rms_norm/") + std::to_string(rows) + "x4096",
            [=](benchmark::State& s) { bench_residual(s, be, fused, rows, 4096); });
    for (RopeLayout l : {RopeLayout::NeoX, RopeLayout::Interleaved})
      for (int64_t tokens : {1, 512})
        add(be + "/rope/" + (l == RopeLayout::NeoX ? "neox/" : "interleaved/") + std::to_string(tokens),
            [=](benchmark::State& s) { bench_rope(s, be, l, tokens); });
    for (int64_t rows : {1, 512})
      add(be + "/swiglu/" + std::to_string(rows) + "x14336", [=](benchmark::State& s) { bench_swiglu(s, be, rows, 14336); });
    add(be + "/softmax/1x128256", [=](benchmark::State& s) { bench_softmax(s, be, 1, 128256); });
    add(be + "/softmax/512x4096", [=](benchmark::State& s) { bench_softmax(s, be, 512, 4096); });
    for (DType c : {DType::F16, DType::F32})
      add(be + "/attention_decode/" + name(c), [=](benchmark::State& s) { bench_attention_decode(s, be, c); });
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
