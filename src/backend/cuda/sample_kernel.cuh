#pragma once
// CudaBackend::sample's kernel (sample.cu launches it; tests/ops/sample_kernel_emulated_test.cpp runs
// this same code on the host through a SIMT emulation): one block of 1024 threads per row. Every step of ops/sample_row.h's definition is a threshold on one total order of the tokens, the
// rank key (logit's ordered bits, then the complement of the id: better = larger key, unique), so
// nothing is sorted:
//  - best: the largest key (greedy stops here);
//  - top-k: the k-th largest key, by a radix select counting keys 8 bits at a time (5 passes over the
//    row when the k-th logit is not tied, 8 at most); up to 1024 candidates then move to shared memory
//    (2 passes), and the steps below walk only them;
//  - softmax: p = exp((l - best) / t) * (1 / sum), each float step rounded as on the host (no FMA
//    contraction), so p is the host's bit for bit whenever the sums round 1 / sum alike;
//  - top-p: the radix select again, weighing each key by p in 2^-62 fixed point (integer histograms:
//    the same answer whatever order the atomics land in), for the largest key whose best-first
//    prefix holds top_p;
//  - min-p: p >= min_p * p(best) on the kept prefix (p falls as the key falls);
//  - draw: r = u * (kept mass); each warp sums a contiguous range of ids, one thread finds the warp
//    whose range r falls in, and that warp scans its range in id order for the first running sum >= r.
// Sums are in double in a fixed order (deterministic), not the host's: a choice can differ from the
// host's only where r, or top_p, lies within rounding (~1e-7 relative: one ulp of 1 / sum) of a
// boundary of the running sums, or p within an ulp of the min-p floor (tests/ops/sample_test.cpp).
// Logits must not be NaN (the host's choice is not defined for them either).
#include <cmath>
#include <cstdint>

#include "ops/sample_row.h"

namespace llmr::cuda_sample {

#ifdef __CUDACC__
#define LLMR_UNROLL _Pragma("unroll")
#else
#define LLMR_UNROLL  // the host emulation (tests) does not unroll
#endif

#ifndef LLMR_SAMPLE_THREADS
#define LLMR_SAMPLE_THREADS 1024
#endif
constexpr int kThreads = LLMR_SAMPLE_THREADS;  // a multiple of 32, at most 1024 (tests emulate fewer)
constexpr int kWarps = kThreads / 32;
constexpr int kMaxRowsPerLaunch = 128;  // 128 settings (3 KB) travel as a kernel parameter
constexpr int kCompact = 1024;          // top_k up to this: the candidates move to shared memory
constexpr unsigned kFull = 0xffffffffu;

struct RowSettings {
  SampleRow rows[kMaxRowsPerLaunch];
};

struct Shared {
  unsigned long long hist[256];
  unsigned long long u64[kWarps];
  double f64[kWarps];
  int count[kWarps];
  unsigned members[256];  // weighed keys per bin of radix_select
  unsigned long long prefix, above, found;
  bool alone;  // one weighed key in the chosen bin
  int walk_warp, result;
  double walk_base;
  float cand_logit[kCompact];  // the top_k candidates in id order (compact)
  int cand_id[kCompact];
};

// Larger float -> larger unsigned; -0 is +0 (they tie on the host).
__device__ __forceinline__ uint32_t ordered_bits(float f) {
  const uint32_t b = f == 0.f ? 0u : __float_as_uint(f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Best first = larger key: higher logit, then lower id.
__device__ __forceinline__ uint64_t rank_key(float l, int i) {
  return (uint64_t(ordered_bits(l)) << 32) | uint64_t(0xffffffffu - uint32_t(i));
}

__device__ __forceinline__ int id_of(uint64_t key) { return int(0xffffffffu - uint32_t(key)); }

// The tokens a pass walks, in id order: the whole row (position j is id j), or the candidates
// compacted into shared memory.
struct Tokens {
  const float* logit;
  const int* ids;  // null: position j is id j
  int n;
  __device__ __forceinline__ float l(int j) const { return logit[j]; }
  __device__ __forceinline__ int id(int j) const { return ids ? ids[j] : j; }
  __device__ __forceinline__ uint64_t key(int j) const { return rank_key(logit[j], id(j)); }
};

// sample_math::exp_nonpositive with each operation rounded as the host rounds it.
__device__ __forceinline__ float exp_nonpositive(float x) {
  float y = __fmul_rn(x, 1.44269504f);
  y = y < -126.f ? -126.f : y;
  int i = __float2int_rz(y);
  i -= __int2float_rn(i) > y ? 1 : 0;
  const float f = __fsub_rn(y, __int2float_rn(i));
  float p = 1.5252734e-5f;
  p = __fadd_rn(1.5403530e-4f, __fmul_rn(f, p));
  p = __fadd_rn(0.00133336f, __fmul_rn(f, p));
  p = __fadd_rn(0.00961813f, __fmul_rn(f, p));
  p = __fadd_rn(0.05550411f, __fmul_rn(f, p));
  p = __fadd_rn(0.24022651f, __fmul_rn(f, p));
  p = __fadd_rn(0.69314718f, __fmul_rn(f, p));
  p = __fadd_rn(1.f, __fmul_rn(f, p));
  const float scale = __uint_as_float(uint32_t(i + 127) << 23);
  return x < -87.f ? 0.f : __fmul_rn(p, scale);
}

// p of a candidate: its weight at temperature t times the normaliser.
struct Softmax {
  float best, t, inv;
  __device__ __forceinline__ float weight(float l) const { return exp_nonpositive(__fdiv_rn(__fsub_rn(l, best), t)); }
  __device__ __forceinline__ float prob(float l) const { return __fmul_rn(weight(l), inv); }
};

// p in 2^-62 fixed point: sums of a row's probabilities (about 1) stay far below 2^64.
__device__ __forceinline__ unsigned long long fixed(float p) { return __double2ull_rn(double(p) * 0x1p62); }

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
LLMR_UNROLL
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
LLMR_UNROLL
  for (int o = 16; o > 0; o >>= 1) {
    const T w = __shfl_xor_sync(kFull, v, o);
    v = w > v ? w : v;
  }
  return v;
}

// Block-wide sum / max; every thread calls and receives the result (fixed order: deterministic).
__device__ double block_sum(double v, Shared& sh) {
  v = warp_sum(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh.f64[threadIdx.x >> 5] = v;
  __syncthreads();
  return warp_sum((threadIdx.x & 31) < kWarps ? sh.f64[threadIdx.x & 31] : 0.0);
}

__device__ unsigned long long block_sum(unsigned long long v, Shared& sh) {
  v = warp_sum(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh.u64[threadIdx.x >> 5] = v;
  __syncthreads();
  return warp_sum((threadIdx.x & 31) < kWarps ? sh.u64[threadIdx.x & 31] : 0ull);
}

__device__ unsigned long long block_max(unsigned long long v, Shared& sh) {
  v = warp_max(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh.u64[threadIdx.x >> 5] = v;
  __syncthreads();
  return warp_max((threadIdx.x & 31) < kWarps ? sh.u64[threadIdx.x & 31] : 0ull);
}

__device__ int block_max(int v, Shared& sh) {
  v = warp_max(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh.count[threadIdx.x >> 5] = v;
  __syncthreads();
  return warp_max((threadIdx.x & 31) < kWarps ? sh.count[threadIdx.x & 31] : -1);
}

// The largest key t of the row with weight{key >= t} >= target, where weight(l, key) is a token's
// integer weight (0 for tokens outside the set weighed); target must not exceed the total weight.
// One pass per byte of the key from the top: each histograms the weight (and the number) of the
// weighed keys that match the bytes chosen so far, and one thread picks the byte where the weight from
// above reaches the target. Once a single weighed key matches (usually after the 4 bytes of the
// logit), one more pass finds it: it is the answer.
template <typename Weight>
__device__ uint64_t radix_select(const Tokens& t, unsigned long long target, Weight weight, Shared& sh) {
  uint64_t prefix = 0;
  unsigned long long above = 0;  // weight of the keys known to be larger than the answer
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) sh.hist[b] = 0, sh.members[b] = 0;
    __syncthreads();
    const uint64_t high = shift == 56 ? 0 : ~uint64_t(0) << (shift + 8);  // the bytes chosen so far
    for (int j = threadIdx.x; j < t.n; j += blockDim.x) {
      const float l = t.l(j);
      const uint64_t key = t.key(j);
      if ((key & high) != prefix) continue;
      const unsigned long long w = weight(l, key);
      if (w) {
        atomicAdd(&sh.hist[(key >> shift) & 255], w);
        atomicAdd(&sh.members[(key >> shift) & 255], 1u);
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned long long acc = above;
      int b = 255;
      for (; b > 0; --b) {
        if (acc + sh.hist[b] >= target) break;
        acc += sh.hist[b];
      }
      sh.prefix = prefix | (uint64_t(b) << shift);
      sh.above = acc;
      sh.alone = sh.members[b] == 1;
    }
    __syncthreads();
    prefix = sh.prefix;
    above = sh.above;
    if (sh.alone && shift > 0) {
      // The one weighed key under these bytes: every larger key is in `above`, so it is the answer.
      const uint64_t chosen = ~uint64_t(0) << shift;
      for (int j = threadIdx.x; j < t.n; j += blockDim.x) {
        const float l = t.l(j);
        const uint64_t key = t.key(j);
        if ((key & chosen) == prefix && weight(l, key)) sh.found = key;
      }
      __syncthreads();
      prefix = sh.found;
      __syncthreads();  // every thread has read sh before a later call writes it
      break;
    }
  }
  return prefix;
}

// The row's tokens with key >= first (there are count <= kCompact of them), in id order, moved to
// shared memory: each warp counts those of a contiguous range of ids, then places them after the
// previous warps' with a ballot per 32 ids.
__device__ Tokens compact(const float* x, int n, uint64_t first, int count, Shared& sh) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int chunk = (n + kWarps - 1) / kWarps;
  const int begin = min(n, warp * chunk), end = min(n, begin + chunk);
  int mine = 0;
  for (int i = begin + lane; i < end; i += 32) mine += rank_key(x[i], i) >= first ? 1 : 0;
  mine = warp_sum(mine);
  __syncthreads();  // the previous block-wide call's readers of sh are done
  if (lane == 0) sh.count[warp] = mine;
  __syncthreads();
  int at = 0;
  for (int w = 0; w < warp; ++w) at += sh.count[w];
  for (int base = begin; base < end; base += 32) {
    const int i = base + lane;
    const float l = i < end ? x[i] : 0.f;
    const bool in = i < end && rank_key(l, i) >= first;
    const unsigned ballot = __ballot_sync(kFull, in);
    const int slot = at + __popc(ballot & ((1u << lane) - 1u));
    if (in && slot < kCompact) sh.cand_logit[slot] = l, sh.cand_id[slot] = i;
    at += __popc(ballot);
  }
  __syncthreads();
  return Tokens{sh.cand_logit, sh.cand_id, min(count, kCompact)};
}

// The first position j < n, in id order, of a kept token at which the running sum of the kept
// probabilities reaches r; -1 when they never do. kept(j) is the probability of the token at j, or -1
// when it is not kept.
template <typename Kept>
__device__ int first_reaching(int n, double r, Kept kept, Shared& sh) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();  // the previous block-wide call's readers of sh are done
  const int chunk = (n + kWarps - 1) / kWarps;
  const int begin = min(n, warp * chunk), end = min(n, begin + chunk);
  double s = 0;
  int any = 0;
  for (int i = begin + lane; i < end; i += 32) {
    const float q = kept(i);
    if (q >= 0.f) s += q, any = 1;
  }
  s = warp_sum(s);
  any = __any_sync(kFull, any);
  if (lane == 0) sh.f64[warp] = s, sh.count[warp] = any;
  __syncthreads();
  if (threadIdx.x == 0) {
    double acc = 0;
    int w = -1;
    for (int k = 0; k < kWarps; ++k) {
      if (sh.count[k] && acc + sh.f64[k] >= r) {
        w = k;
        break;
      }
      acc += sh.f64[k];
    }
    sh.walk_warp = w;
    sh.walk_base = acc;
    sh.result = -1;
  }
  __syncthreads();
  if (warp == sh.walk_warp) {
    double acc = sh.walk_base;
    int last = -1;  // the range's last kept token: its sum reached r, its scan (other order) may not
    for (int base = begin; base < end; base += 32) {
      const int i = base + lane;
      const float q = i < end ? kept(i) : -1.f;
      double v = q >= 0.f ? q : 0.0;
LLMR_UNROLL
      for (int o = 1; o < 32; o <<= 1) {
        const double t = __shfl_up_sync(kFull, v, o);
        if (lane >= o) v += t;
      }
      const unsigned hit = __ballot_sync(kFull, q >= 0.f && acc + v >= r);
      if (hit) {
        last = base + __ffs(hit) - 1;
        break;
      }
      const unsigned any_kept = __ballot_sync(kFull, q >= 0.f);
      if (any_kept) last = base + 31 - __clz(any_kept);
      acc += __shfl_sync(kFull, v, 31);
    }
    if (lane == 0) sh.result = last;
  }
  __syncthreads();
  return sh.result;
}

__global__ void __launch_bounds__(kThreads) sample_rows(const char* logits, int64_t stride, int n,
                                                        RowSettings settings, int32_t* out) {
  __shared__ Shared sh;
  const float* x = reinterpret_cast<const float*>(logits + int64_t(blockIdx.x) * stride);
  const SampleRow row = settings.rows[blockIdx.x];

  // The best token: the largest key.
  unsigned long long best = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const unsigned long long k = rank_key(x[i], i);
    best = k > best ? k : best;
  }
  best = block_max(best, sh);
  const int best_id = id_of(best);
  if (row.temperature == 0.f || n == 1) {
    if (threadIdx.x == 0) out[blockIdx.x] = best_id;
    return;
  }

  // 1. Candidates: keys >= first (the top_k best, or every token); up to kCompact of them move to
  // shared memory, and every later pass walks only them.
  const Tokens row_tokens{x, nullptr, n};
  Tokens c = row_tokens;
  uint64_t first = 0;
  if (row.top_k > 0 && row.top_k < n) {
    first = radix_select(row_tokens, (unsigned long long)row.top_k, [](float, uint64_t) { return 1ull; }, sh);
    if (row.top_k <= kCompact) c = compact(x, n, first, row.top_k, sh);
  }

  // 2. Softmax at temperature over the candidates.
  Softmax sm{x[best_id], row.temperature, 0.f};
  double total = 0;
  for (int j = threadIdx.x; j < c.n; j += blockDim.x)
    if (c.key(j) >= first) total += sm.weight(c.l(j));
  sm.inv = __double2float_rn(1.0 / block_sum(total, sh));

  // 3. Top-p: keys >= cut hold the shortest best-first prefix with mass >= top_p (all of them when
  // the candidates' mass, rounded, falls short of it).
  uint64_t cut = first;
  if (row.top_p < 1.f) {
    const auto target = (unsigned long long)ceil(double(row.top_p) * 0x1p62);
    auto mass = [&](float l, uint64_t key) { return key >= first ? fixed(sm.prob(l)) : 0ull; };
    unsigned long long held = 0;
    for (int j = threadIdx.x; j < c.n; j += blockDim.x) held += mass(c.l(j), c.key(j));
    if (block_sum(held, sh) >= target) cut = radix_select(c, target, mass, sh);
  }

  // 4. Min-p: below min_p * p(best) leaves (the best, whose weight is 1, always stays).
  const float p_floor = __fmul_rn(row.min_p, sm.inv);
  auto kept = [&](int j) -> float {
    const uint64_t key = c.key(j);
    if (key < cut) return -1.f;
    const float q = sm.prob(c.l(j));
    return row.min_p > 0.f && key != best && q < p_floor ? -1.f : q;
  };

  // 5. The draw: r = u * (kept mass), the kept tokens walked in id order.
  double kept_mass = 0;
  int last = -1;  // position of the last kept token
  for (int j = threadIdx.x; j < c.n; j += blockDim.x) {
    const float q = kept(j);
    if (q >= 0.f) kept_mass += q, last = j;
  }
  kept_mass = block_sum(kept_mass, sh);
  last = block_max(last, sh);
  const int pick = first_reaching(c.n, row.u * kept_mass, kept, sh);
  if (threadIdx.x == 0) out[blockIdx.x] = c.id(pick >= 0 ? pick : last);
}

}  // namespace llmr::cuda_sample
