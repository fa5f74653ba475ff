#pragma once
// A measurement build's per-warp timestamps for the plain products (gemv_plain.cuh, gemv_plain_stream.cuh)
// and the decode attention (attention_decode.cu):
// when a warp started, when its inputs were ready (its wait returned) and when it finished, on the
// GPU's global nanosecond timer, so a step's timeline shows each product's tail and the gaps between
// products (tools/warp_timeline.py reads them). Compiled in only with the CMake option
// LLMR_CUDA_WARP_TIMELINE (an atomic a warp, on its multiprocessor's counter); otherwise every call here is empty.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace llmr::cuda_ops::timeline {

// One warp of one launch: 40 bytes, as tools/warp_timeline.py reads them.
struct WarpMark {
  uint64_t start, waited, end;  // %globaltimer, ns
  uint32_t n_out, vecs;         // the product's shape: which product this is
  uint32_t block;
  uint16_t warp, sm;
};
static_assert(sizeof(WarpMark) == 40);

#ifdef LLMR_CUDA_WARP_TIMELINE
// A ring of marks for each multiprocessor (the last kMarksPerSm of its warps' are kept: two F16
// Llama-3-8B steps) and how many each was given, a 128-byte line apart: one counter for all took 2.6
// ns an add, and a grid's warps ending together queued microseconds behind it. Static, so nothing is
// allocated (or copied) while a graph is being recorded.
constexpr int kMaxSms = 256;
constexpr unsigned kMarksPerSm = 1u << 13;
constexpr int kCounterStride = 32;
static __device__ WarpMark g_marks[kMaxSms][kMarksPerSm];
static __device__ unsigned g_counts[kMaxSms * kCounterStride];

__device__ __forceinline__ uint64_t now() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Kept in 32 bits (the low half of the timer wraps every 4.3 s, far longer than a product).
struct WarpClock {
  uint32_t start = 0, waited = 0;
  __device__ __forceinline__ void begin() { start = uint32_t(now()); }
  __device__ __forceinline__ void inputs_ready() { waited = uint32_t(now()); }
  __device__ __forceinline__ void finish(int lane, int warp, uint32_t n_out, uint32_t vecs) {
    if (lane != 0) return;
    const uint64_t end = now();
    uint32_t sm;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
    // The 64-bit times of start and waited: the end's high half, less one where the low half wrapped.
    auto widen = [&](uint32_t lo) { return ((end >> 32) - (lo > uint32_t(end) ? 1 : 0)) << 32 | lo; };
    const unsigned i = atomicAdd(&g_counts[sm * kCounterStride], 1u) % kMarksPerSm;
    g_marks[sm][i] = WarpMark{widen(start), widen(waited), end, n_out, vecs, blockIdx.x, uint16_t(warp), uint16_t(sm)};
  }
};

// Called at each launch: the first registers the write of the kept marks, at exit, to the file
// $LLMR_CUDA_WARP_TIMELINE_OUT (warp_timeline.bin by default) with `suffix` appended. Each source file
// that includes this has its own marks (static), so each writes its own file.
static void write_marks_at_exit(const char* suffix) {
  static const char* s_suffix = suffix;
  static const bool armed = [] {
    std::atexit([] {
      cudaDeviceSynchronize();
      std::vector<unsigned> counts(kMaxSms * kCounterStride);
      cudaMemcpyFromSymbol(counts.data(), g_counts, counts.size() * sizeof(unsigned));
      std::vector<WarpMark> marks, sm_marks(kMarksPerSm);
      unsigned long long count = 0;
      for (int sm = 0; sm < kMaxSms; ++sm) {
        const unsigned n = std::min(counts[sm * kCounterStride], kMarksPerSm);
        count += counts[sm * kCounterStride];
        cudaMemcpyFromSymbol(sm_marks.data(), g_marks, n * sizeof(WarpMark), sm * sizeof(sm_marks[0]) * kMarksPerSm);
        marks.insert(marks.end(), sm_marks.begin(), sm_marks.begin() + n);
      }
      const char* path = std::getenv("LLMR_CUDA_WARP_TIMELINE_OUT");
      const std::string file = std::string(path && *path ? path : "warp_timeline.bin") + s_suffix;
      path = file.c_str();
      FILE* f = std::fopen(path, "wb");
      const bool ok = f && std::fwrite(marks.data(), sizeof(WarpMark), marks.size(), f) == marks.size();
      if (f) std::fclose(f);
      std::fprintf(stderr, "warp timeline: %zu of %llu marks %s %s\n", marks.size(), count,
                   ok ? "written to" : "could not be written to", path);
    });
    return true;
  }();
  (void)armed;
}
#else
inline void write_marks_at_exit(const char*) {}
struct WarpClock {
  __device__ __forceinline__ void begin() {}
  __device__ __forceinline__ void inputs_ready() {}
  __device__ __forceinline__ void finish(int, int, uint32_t, uint32_t) {}
};
#endif

}  // namespace llmr::cuda_ops::timeline
