// The register-held-activation GEMV (see gemv_xreg.h). Each warp takes one 32-unit chunk of the
// activations into registers (a unit per lane) and streams R rows' units against it, so the x
// loads are amortized over R rows; the weights run D chunks ahead of their use in a register ring,
// and the first D chunks are loaded before waiting for the kernel before (the weights do not
// depend on it), so a whole short row can arrive while that kernel still runs. A block's 8 warps
// form 8 / KS row groups; the KS warps of a group take its chunks in turn and add their partial
// sums in shared memory in a fixed order. D = 0 takes no ring: a warp's two whole rows are copied to
// shared memory before the wait (cp.async), so all of a block's weight bytes are in flight at once.
// A norm handoff (norm_handoff.h) adds an epilogue at either end: the producer's blocks of 32 rows
// quantize their updated rows times g for the next product, which scales its sums by 1/rms.
#include <algorithm>
#include <cstdlib>

#include "backend/cuda/device_limits.h"
#include "backend/cuda/float_types.cuh"
#include "backend/cuda/gemv_staged.cuh"
#include "backend/cuda/gemv_xreg_device.cuh"
#include "backend/cuda/gemv_xreg.h"
#include "backend/cuda/host_mapped.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/norm_handoff.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quant_device.cuh"
#include "backend/cuda/quantize_xblock.cuh"
#include "backend/cuda/rope_store_pair.cuh"

namespace llmr::cuda_ops {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
// When a grid lets the kernel after it launch (pdl.cuh).
constexpr int kReleaseAtExit = 0, kReleaseEarly = 1, kReleaseAfterLoop = 2;

// Grids of more than one wave release the kernel after them as their blocks finish their loops, not
// as they exit: Q4_K tg128 +2.0 to +7.0 t/s in five interleaved rounds on the H200, Q4_0 -5.4 to +2.5
// (docs/measurements/2026-11-29-h200-19/). LLMR_CUDA_XREG_LOOP_RELEASE=0 (read at every call): at exit.
bool loop_release_requested() { return switch_on("LLMR_CUDA_XREG_LOOP_RELEASE"); }
// A norm handoff's producer (XregNormOut) takes 32 rows a block: 16 row groups of two rows.
constexpr int kNormRows = 32;

// D = 0: a warp's whole rows (regrouped, at most kXregSharedMaxUnits units) copied into shared memory
// with cp.async before the wait, so no register ring holds them in flight.
constexpr int kSharedRowBytes = kXregSharedMaxUnits / 8 * 144;

// Handoff producer, warp t: the block's 32 updated rows of token t (one a lane) times g to one XBlock,
// and their sum of squares (in double: no overflow or underflow) added into token t's sum.
__device__ __forceinline__ void norm_out_block(const XregNormOut& no, float v, float g, int t, int lane) {
  quantize_block(v * g, lane, no.xq[int64_t(t) * gridDim.x + blockIdx.x]);
  const double ss = warp_sum(double(v) * double(v));
  if (lane == 0) atomicAdd(no.sum + t, ss);
}

// Blocks a multiprocessor holds at least, pinned where small changes to the code moved ptxas's
// register count across an occupancy step: one token's one-chunk ring 4 (at most 64 registers), q4_0c's
// two-chunk ring too (xreg_deep_ring), its shared-memory rows 5 (48).
template <DType W, int TMAX, int R, int D, int WARPS>
constexpr int kMinBlocks = WARPS == kWarps && TMAX == 1 && R == 2
                               ? (D == 1 || (D == 2 && W == DType::Q4_0C) ? 4 : D == 0 ? 5 : 1)
                               : 1;

// WARPS: 8, or 16 * KS for a norm handoff's producer (kNormRows rows a block).
template <DType W, int TMAX, int R, int KS, int D, int WARPS = kWarps>
__global__ void __launch_bounds__(32 * WARPS, (kMinBlocks<W, TMAX, R, D, WARPS>))
gemv_xreg_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t n_out, int units,
                 const XBlock* __restrict__ xq, int T, const float* __restrict__ bias, float* __restrict__ y,
                 int64_t y_stride, bool accumulate, int release, bool y_host, XregRope rope,
                 XregNormOut norm_out, NormScale norm_scale) {
  using Regs = typename Unit<W>::Regs;
  constexpr bool kShared = D == 0;
  static_assert(!kShared || (xreg_regrouped(W) && KS == 1 && WARPS == kWarps),
                "shared-memory rows: regrouped layouts, whole rows a warp, blocks of 8 warps");
  constexpr int kGroups = WARPS / KS;
  constexpr bool kNormOut = WARPS != kWarps;
  static_assert(!kNormOut || (kGroups * R == kNormRows && TMAX <= WARPS), "a handoff producer's block: 32 rows");
  constexpr int kStep = 32 * KS;  // units between a warp's chunks
  __shared__ float partial[KS > 1 ? WARPS : 1][R][TMAX];
  __shared__ __align__(16) uint8_t shared_rows[kShared ? WARPS : 1][kShared ? R : 1][kShared ? kSharedRowBytes : 16];
  __shared__ float normed_rows[kNormOut ? TMAX : 1][kNormRows];  // the block's updated rows, for norm_out
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int group = warp / KS, ks = warp % KS;
  const int64_t row0 = (int64_t(blockIdx.x) * kGroups + group) * R;
  // The norm's weights do not depend on the kernel before: warp t (token t) loads its lane's row's.
  float g_lane = 0.f;
  if constexpr (kNormOut)
    if (warp < TMAX) g_lane = norm_out.g[int64_t(blockIdx.x) * kNormRows + lane];
  // A handoff producer's rows of y (lane r * TMAX + t of a row group's first warp writes row r, token t),
  // from L2 before the wait, so the residual add takes no round trip after the loop.
  float y_prior = 0.f;
  if constexpr (kNormOut) {
    const int r = lane / TMAX, t = lane % TMAX;
    if (norm_out.y_before_wait && ks == 0 && lane < R * TMAX && t < T && row0 + r < n_out)
      y_prior = __ldcg(y + int64_t(t) * y_stride + row0 + r);
  }
  const uint8_t* wr[R];
#pragma unroll
  for (int r = 0; r < R; ++r) wr[r] = w + min(row0 + r, n_out - 1) * w_stride;  // past the end: read again, not written
  float acc[R][TMAX];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < TMAX; ++t) acc[r][t] = 0.f;
  // ring[d] holds the chunk at u + d * kStep of the loop below
  const int u0 = ks * 32 + lane;
  Regs ring[kShared ? 1 : D][R];
  auto refill = [&](Regs (&slot)[R], int next) {
    if (next < units)
#pragma unroll
      for (int r = 0; r < R; ++r) slot[r] = load_unit<W>(wr[r], next);
  };
  if constexpr (kShared) {
    const int bytes = units / 8 * 144;
    const uint64_t policy = staged::evict_first_policy();  // read once a token
#pragma unroll
    for (int r = 0; r < R; ++r)
      for (int b = lane * 16; b < bytes; b += 32 * 16)
        staged::cp_async16(&shared_rows[warp][r][b], wr[r] + b, 16, policy);
    staged::cp_async_commit();
  } else {
#pragma unroll
    for (int d = 0; d < D; ++d) refill(ring[d], u0 + d * kStep);
  }
  pdl_wait();
  // A small grid lets the next kernel launch now; a larger one when its blocks exit (the next
  // kernel's blocks, waiting early, would take the places of its later waves) or, kReleaseAfterLoop,
  // as its blocks finish their loops.
  if (release == kReleaseEarly) pdl_release();
  if constexpr (kShared) {
    staged::cp_async_wait<0>();
    __syncwarp();  // the other lanes' copies too
    for (int u = lane; u < units; u += 32) {
      XBlock xr[TMAX];
#pragma unroll
      for (int t = 0; t < TMAX; ++t)
        if (t < T) xr[t] = load_xblock(xq + int64_t(t) * units + u);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const Regs cur = staged::SmemUnit<W>::load(shared_rows[warp][r], u);
#pragma unroll
        for (int t = 0; t < TMAX; ++t)
          if (t < T) acc[r][t] += Unit<W>::dot(cur, &xr[t]);
      }
    }
  } else {
    for (int u = u0; u < units; u += D * kStep) {
#pragma unroll
      for (int d = 0; d < D; ++d) {
        const int ud = u + d * kStep;
        if (ud >= units) break;  // only the last chunk is partial: lanes past the end leave together
        Regs cur[R];
#pragma unroll
        for (int r = 0; r < R; ++r) cur[r] = ring[d][r];
        // One slot: refilled before its chunk is used (two chunks in flight). More: refilled after, which
        // measured faster for q4_0; q4_k and q8_0 units, refilled after, held 93 and 64 registers, not 64 and 58.
        if constexpr (D == 1) refill(ring[d], ud + D * kStep);
        XBlock xr[TMAX];
#pragma unroll
        for (int t = 0; t < TMAX; ++t)
          if (t < T) xr[t] = load_xblock(xq + int64_t(t) * units + ud);
#pragma unroll
        for (int r = 0; r < R; ++r)
#pragma unroll
          for (int t = 0; t < TMAX; ++t)
            if (t < T) acc[r][t] += Unit<W>::dot(cur[r], &xr[t]);
        if constexpr (D > 1) refill(ring[d], ud + D * kStep);
      }
    }
  }
  if (release == kReleaseAfterLoop) pdl_release();
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < TMAX; ++t) acc[r][t] = warp_sum(acc[r][t]);
  // The norm's 1/rms from the producer's sum of squares: loaded here, not before the loop, where the
  // partial sums it replaced held q4_kc's ring kernel at 74 registers (61 without).
  if (norm_scale.sum) {
#pragma unroll
    for (int t = 0; t < TMAX; ++t) {
      const double ss = t < T ? __ldcg(norm_scale.sum + t) : 0.0;
      const float inv = float(1.0 / sqrt(ss / double(norm_scale.n) + double(norm_scale.eps)));
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r][t] *= inv;
    }
  }
  if constexpr (KS > 1) {
    if (lane == 0)
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int t = 0; t < TMAX; ++t) partial[warp][r][t] = acc[r][t];
    __syncthreads();
    if (ks != 0 && !kNormOut) return;  // a producer's warps all reach the barrier below
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < TMAX; ++t) {
        float s = 0.f;
#pragma unroll
        for (int k = 0; k < KS; ++k) s += partial[warp - ks + k][r][t];
        acc[r][t] = s;
      }
  }
  if constexpr (R == 2) {
    if (rope.positions) {  // lane t writes token t's pair
#pragma unroll
      for (int t = 0; t < TMAX; ++t)
        if (lane == t && t < T)
          rope_store_pair(rope, row0, t, acc[0][t] + (bias ? bias[row0] : 0.f),
                          acc[1][t] + (bias ? bias[row0 + 1] : 0.f), y + int64_t(t) * y_stride);
      return;
    }
  }
  // y in host memory (one token's logits written over the bus): a block's rows go out as one store of
  // adjacent floats, not a store a warp (those, 64K small writes, took Q4_0's output head ~80 us longer).
  if constexpr (KS == 1 && TMAX == 1 && !kNormOut) {
    if (y_host) {
      __shared__ float host_rows[kGroups * R];
#pragma unroll
      for (int r = 0; r < R; ++r)
        if (lane == r) host_rows[group * R + r] = acc[r][0] + (bias && row0 + r < n_out ? bias[row0 + r] : 0.f);
      __syncthreads();
      const int64_t row = int64_t(blockIdx.x) * kGroups * R + threadIdx.x;
      if (threadIdx.x < unsigned(kGroups * R) && row < n_out) y[row] = host_rows[threadIdx.x];
      return;
    }
  }
  // lane r * TMAX + t writes row r, token t
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < TMAX; ++t)
      if (ks == 0 && lane == r * TMAX + t && t < T && row0 + r < n_out) {
        const int64_t row = row0 + r;
        float* out = y + int64_t(t) * y_stride + row;
        const float v = acc[r][t] + (bias ? bias[row] : 0.f);
        const float updated = accumulate ? (kNormOut && norm_out.y_before_wait ? y_prior : *out) + v : v;
        *out = updated;
        if constexpr (kNormOut) normed_rows[t][group * R + r] = updated;
      }
  if constexpr (kNormOut) {
    // The sums the next producer adds into: their readers finished before this grid's wait.
    if (blockIdx.x == 0 && threadIdx.x < unsigned(kNormSumTokens)) norm_out.clear[threadIdx.x] = 0.0;
    __syncthreads();
    if (warp < T) norm_out_block(norm_out, normed_rows[warp][lane], g_lane, warp, lane);
  }
}

template <DType W, int TMAX, int R, int KS, int D, int WARPS = kWarps>
void launch(const XregArgs& a) {
  constexpr int kRowsPerBlock = (WARPS / KS) * R;
  const int64_t blocks = (a.n_out + kRowsPerBlock - 1) / kRowsPerBlock;
  // Grids of at most one full-occupancy wave (8 blocks of 8 warps a multiprocessor) release early,
  // whatever their registers hold at a time: the rule measured with the one-chunk kernel
  // (docs/measurements/2026-11-29-h200-10/q4_release_by_waves.md).
  const int64_t wave_blocks = int64_t(device_limits("matmul").multiprocessors) * (64 / WARPS);
  const int release = blocks <= wave_blocks        ? kReleaseEarly
                      : loop_release_requested() ? kReleaseAfterLoop
                                                 : kReleaseAtExit;
  const bool y_host = KS == 1 && TMAX == 1 && WARPS == kWarps && a.T == 1 && !a.accumulate && !a.rope.positions &&
                      host_mapped(a.y);
  launch_pdl(gemv_xreg_kernel<W, TMAX, R, KS, D, WARPS>, dim3(unsigned(blocks)), dim3(32 * WARPS), 0, a.stream,
             "matmul", "gemv_xreg_kernel", a.w, a.w_stride, a.n_out, a.units, a.xq, a.T, a.bias, a.y, a.y_stride,
             a.accumulate, release, y_host, a.rope, a.norm_out, a.norm_scale);
}

// A norm handoff's producer: blocks of 16 row groups (32 rows), so each block makes whole XBlocks.
template <DType W, int TMAX, int KS, int D>
void launch_norm_out(const XregArgs& a) {
  XregArgs b = a;
  b.norm_out.y_before_wait = norm_handoff_y_before_wait();
  launch<W, TMAX, 2, KS, D, 16 * KS>(b);
}

template <DType W, int TMAX, int R, int D>
bool by_ks(const XregArgs& a, int ks) {
  if (a.norm_out.g) {  // instantiated for the regrouped layouts' one-chunk ring (xreg_norm_out_applies)
    if constexpr (xreg_regrouped(W) && R == 2 && D == 1) {
      if (ks == 1) return launch_norm_out<W, TMAX, 1, D>(a), true;
      if (ks == 2) return launch_norm_out<W, TMAX, 2, D>(a), true;
    }
    return false;
  }
  switch (ks) {
    case 1: launch<W, TMAX, R, 1, D>(a); return true;
    case 2: launch<W, TMAX, R, 2, D>(a); return true;
    case 4: launch<W, TMAX, R, 4, D>(a); return true;
    case 8: launch<W, TMAX, R, 8, D>(a); return true;
    default: return false;
  }
}

// Instantiated: two rows with rings of 1, 2 or 4 chunks (the regrouped layouts: 1, or whole rows in
// shared memory without a k-split), four rows with 1.
template <DType W, int TMAX>
bool by_rows(const XregArgs& a, const XregShape& s) {
  if constexpr (xreg_regrouped(W)) {
    if (s.rows_per_warp == 2 && s.depth == 0 && s.k_split == 1) return launch<W, TMAX, 2, 1, 0>(a), true;
  }
  if constexpr (W == DType::Q4_0C && TMAX == 1)  // xreg_deep_ring's shapes
    if (s.rows_per_warp == 2 && s.depth == 2) {
      if (s.k_split == 1) return (a.norm_out.g ? launch_norm_out<W, 1, 1, 2>(a) : launch<W, 1, 2, 1, 2>(a)), true;
      if (s.k_split == 2) return (a.norm_out.g ? launch_norm_out<W, 1, 2, 2>(a) : launch<W, 1, 2, 2, 2>(a)), true;
      return false;
    }
  if (s.rows_per_warp == 2 && s.depth == 1) return by_ks<W, TMAX, 2, 1>(a, s.k_split);
  if (s.rows_per_warp == 4 && s.depth == 1) return by_ks<W, TMAX, 4, 1>(a, s.k_split);
  if constexpr (!xreg_regrouped(W)) {
    if (s.rows_per_warp == 2 && s.depth == 2) return by_ks<W, TMAX, 2, 2>(a, s.k_split);
    if (s.rows_per_warp == 2 && s.depth == 4) return by_ks<W, TMAX, 2, 4>(a, s.k_split);
  }
  return false;
}

template <DType W>
bool by_t(const XregArgs& a, const XregShape& s) {
  if (a.T == 1) return by_rows<W, 1>(a, s);
  if (a.T == 2) return by_rows<W, 2>(a, s);
  return false;
}

}  // namespace

bool xreg_applies(DType type, int T, int units, const void* w, int64_t w_stride) {
  if (T < 1 || T > kXregMaxTokens || units <= 0) return false;
  const auto addr = reinterpret_cast<uintptr_t>(w);
  switch (type) {
    // load_words: 4-byte aligned rows of an even number of units
    case DType::Q4_0:
    case DType::Q8_0: return units % 2 == 0 && addr % 4 == 0 && w_stride % 4 == 0;
    // 16-byte loads: 16-byte aligned rows
    case DType::Q4_K:
    case DType::Q4_0C:
    case DType::Q4_KC: return addr % 16 == 0 && w_stride % 16 == 0;
    default: return false;
  }
}

// LLMR_CUDA_XREG_WARPS=N (read at every call; 4..64) overrides the warps per multiprocessor the
// k-split aims for, LLMR_CUDA_XREG_DEPTH=2 turns off q4_0's whole-row preload and =1 its two-chunk
// ring, LLMR_CUDA_XREG_SHARED picks when rows go to shared memory (below), for tuning runs.
static int env_int(const char* var, int lo, int hi, int fallback) {
  const char* v = std::getenv(var);
  if (!v || !*v) return fallback;
  const int n = std::atoi(v);
  return n >= lo && n <= hi ? n : fallback;
}

bool xreg_shared_fits(int units) { return units > 0 && units % 8 == 0 && units <= kXregSharedMaxUnits; }

// Whether q4_kc rows go whole to shared memory: rows that fit, in grids of more than one
// full-occupancy wave (the gate|up and output products; q4_kc's output product alone 79 -> 71 us,
// docs/measurements/2026-11-29-h200-15/). LLMR_CUDA_XREG_SHARED=0: never, =2: any grid, q4_0c too (both
// measured slower in the model, as did the down product's rows split four ways into shared memory).
static bool xreg_shared_picked(DType type, int64_t n_out, int units, int sms) {
  const int rule = env_int("LLMR_CUDA_XREG_SHARED", 0, 2, 1);
  if (!xreg_regrouped(type) || !xreg_shared_fits(units) || rule == 0) return false;
  if (rule == 2) return true;
  const bool over_a_wave = (n_out + 2 * kWarps - 1) / (2 * kWarps) > int64_t(sms) * (2048 / kThreads);
  return type == DType::Q4_KC && over_a_wave;
}

// Where q4_0c's one-token products take a ring of two chunks (three in flight a warp): grids of one
// wave at 32 warps a multiprocessor with a k-split of 1 (q|k|v; 57 registers, four blocks a
// multiprocessor) or 2 (the o and down products, handoff producers: 54 registers at 1024 threads).
// LLMR_CUDA_XREG_DEEP_RING (read at every call): a mask, 1 the k-split of 1, 2 of 2; 0 none.
static bool xreg_deep_ring(DType type, int T, int64_t n_out, int ks, int sms) {
  const int mask = env_int("LLMR_CUDA_XREG_DEEP_RING", 0, 3, 3);
  const bool one_wave = (n_out + 1) / 2 * ks <= int64_t(sms) * 32;
  return type == DType::Q4_0C && T == 1 && one_wave && ((ks == 1 && (mask & 1)) || (ks == 2 && (mask & 2)));
}

XregShape xreg_shape(DType type, int64_t n_out, int units, int T) {
  // Measured on the H200 over Llama-3-8B shapes (tools/cuda_gemv_bench, docs/PERFORMANCE.md): two rows
  // per warp (four cost occupancy), and enough k-split that the grid holds ~16 warps per
  // multiprocessor. q4_0 in the file's layout takes a ring of two chunks; a row of at most four chunks
  // is taken whole by one warp, all of it loaded before the wait, where that grid fits the GPU at once
  // (74 registers: three blocks a multiprocessor). Deeper rings over longer rows measured slower (fewer
  // blocks resident). The other types, the regrouped q4_0 / q4_k included, take a ring of one chunk,
  // except where q4_kc's rows go to shared memory, all their bytes in flight (below), and q4_0c's
  // one-token grids of one wave (xreg_deep_ring).
  const int sms = device_limits("matmul").multiprocessors;
  if (xreg_shared_picked(type, n_out, units, sms)) return {2, 1, 0};
  const bool q4_0 = type == DType::Q4_0;
  const int max_depth = env_int("LLMR_CUDA_XREG_DEPTH", 1, 4, 4);
  if (q4_0 && units <= 4 * 32 && max_depth == 4) {
    const int per_sm = T == 1 ? resident_blocks<gemv_xreg_kernel<DType::Q4_0, 1, 2, 1, 4>, kThreads>()
                              : resident_blocks<gemv_xreg_kernel<DType::Q4_0, 2, 2, 1, 4>, kThreads>();
    if ((n_out + 2 * kWarps - 1) / (2 * kWarps) <= int64_t(sms) * per_sm) return {2, 1, 4};
  }
  const int depth = q4_0 && max_depth >= 2 ? 2 : 1;
  const int64_t want = int64_t(sms) * env_int("LLMR_CUDA_XREG_WARPS", 4, 64, 16);
  for (int ks : {1, 2, 4})
    if ((n_out + 1) / 2 * ks >= want) return {2, ks, xreg_deep_ring(type, T, n_out, ks, sms) ? 2 : depth};
  return {2, 8, depth};
}

bool xreg_norm_out_applies(DType type, const XregShape& s, int64_t n_out) {
  const bool ring = s.depth == 1 || (s.depth == 2 && type == DType::Q4_0C);  // by_rows's
  return xreg_regrouped(type) && s.rows_per_warp == 2 && ring && (s.k_split == 1 || s.k_split == 2) &&
         n_out > 0 && n_out % kNormRows == 0;
}

bool launch_xreg(DType type, const XregArgs& a, const XregShape& s) {
  if (a.n_out <= 0) return true;
  if (s.depth == 0 && (s.k_split != 1 || !xreg_shared_fits(a.units))) return false;
  if (a.norm_out.g && (!a.accumulate || a.rope.positions || !xreg_norm_out_applies(type, s, a.n_out))) return false;
  if (a.rope.positions && (s.rows_per_warp != 2 || a.n_out % 2 || a.rope.kv_begin % 2 || a.rope.v_begin % 2 ||
                           a.rope.head_dim % 2 || a.accumulate))
    return false;
  switch (type) {
    case DType::Q4_0: return by_t<DType::Q4_0>(a, s);
    case DType::Q8_0: return by_t<DType::Q8_0>(a, s);
    case DType::Q4_K: return by_t<DType::Q4_K>(a, s);
    case DType::Q4_0C: return by_t<DType::Q4_0C>(a, s);
    case DType::Q4_KC: return by_t<DType::Q4_KC>(a, s);
    default: return false;
  }
}

}  // namespace llmr::cuda_ops
