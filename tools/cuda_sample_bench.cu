// GPU microbenchmark of Backend::sample (backend/cuda/sample.cu) against the host definition it
// replaces (RowSampler, one thread), over Llama-3's 128256-token vocabulary at batch 1 and 64: greedy,
// the server's defaults (t 0.8, top-k 40, top-p 0.95, min-p 0.05), top-p over every token, and
// nothing cut. Times are medians of wall time per call (the call returns with the ids on the host),
// after warm-up. Usage: cuda_sample_bench [--quick]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "ops/sample_row.h"

using namespace llmr;

namespace {

template <typename F>
double median_ms(int reps, F&& fn) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int reps = quick ? 5 : 50;
  const int64_t vocab = 128256;
  CudaBackend cuda(0);
  std::mt19937_64 gen(20261129);
  std::normal_distribution<float> logit(0.f, 3.f);  // roughly a model's spread
  struct Setting {
    const char* name;
    SampleRow row;
  };
  const Setting settings[] = {{"greedy", {0.f, 0, 1.f, 0.f, 0}},
                              {"defaults (t .8, k 40, p .95, min-p .05)", {0.8f, 40, 0.95f, 0.05f, 0}},
                              {"top-p .95 over all", {1.f, 0, 0.95f, 0.f, 0}},
                              {"nothing cut (t 1)", {1.f, 0, 1.f, 0.f, 0}}};
  std::printf("%-42s %6s %12s %12s %8s\n", "setting", "rows", "device ms", "host ms", "speedup");
  for (int64_t rows : {1, 64}) {
    std::vector<float> host(static_cast<size_t>(rows * vocab));
    for (float& v : host) v = logit(gen);
    auto dev = cuda.upload(Tensor::view(host.data(), DType::F32, {rows, vocab}));
    for (const Setting& s : settings) {
      std::vector<SampleRow> row_settings(size_t(rows), s.row);
      std::uniform_real_distribution<double> u(0.0, 1.0);
      for (auto& r : row_settings) r.u = u(gen);
      std::vector<int32_t> ids(static_cast<size_t>(rows));
      for (int i = 0; i < 3; ++i) cuda.sample(dev->tensor(), row_settings, ids);  // warm-up
      const double device = median_ms(reps, [&] { cuda.sample(dev->tensor(), row_settings, ids); });
      RowSampler host_sampler;
      const double host_ms = median_ms(quick ? 1 : 3, [&] {
        for (int64_t r = 0; r < rows; ++r)
          host_sampler.sample({host.data() + r * vocab, size_t(vocab)}, row_settings[size_t(r)]);
      });
      std::printf("%-42s %6lld %12.3f %12.3f %7.1fx\n", s.name, (long long)rows, device, host_ms, host_ms / device);
    }
  }
  return 0;
}
