#pragma once
// The matrix-vector kernel for plain weight types (f32, f16, bf16; T <= 8): a warp per row, lanes
// over 16-byte vectors; each lane issues V vector loads (L1 bypassed, L2 evict-first: weights are read
// once per token) before the first use, so a warp keeps 32 V 16 bytes of its row in flight (the whole
// 8 KB row of a 4096-wide f16 matrix at V = 16; the launcher takes V = 4, more blocks resident, for
// grids of at most two such waves, and PIPE, two such passes in flight, for one wave of longer rows).
// Activations are read as float4 through L1. Launched as a programmatic dependent: the first loads, of
// weights only, are issued before waiting for the kernel before it. accumulate: y += the product (no
// bias) instead of y = product + bias. rope.positions set (a stacked q|k|v, rows a multiple of 8, not
// accumulating): a block's warps 2i and 2i + 1 hold a rotation pair of rows, which the even one rotates
// and stores to the KV cache (rope_store_pair.cuh), so no rope_store_kv kernel follows. swiglu.out set
// (a stacked gate|up, T <= 2): warps 2i and 2i + 1 hold gate row j and up row j and the even one writes
// silu(gate) * up (PlainSwiglu), so no swiglu kernel follows. A norm handoff (norm_handoff.h): a
// producer (norm_out) also writes its updated rows times g as the next product's activations and adds
// their squares into one sum a token; a consumer (norm_scale) scales its sums by 1/rms from that sum.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/gemv_staged.cuh"
#include "backend/cuda/norm_handoff_args.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quant_device.cuh"
#include "backend/cuda/rope_store_pair.cuh"
#include "backend/cuda/silu_mul.cuh"
#include "backend/cuda/warp_timeline.cuh"

namespace llmr::cuda_ops::plain {

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;

// Vector loads in flight per lane by default: fewer at larger T (each token's accumulator and
// activation reads take registers too).
template <int TMAX>
constexpr int kVecs = TMAX <= 2 ? 16 : 8;

__device__ __forceinline__ uint4 ld_stream(const uint4* p, uint64_t policy) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p), "l"(policy));
  return v;
}

template <DType W>
__device__ __forceinline__ typename Unit<W>::Regs regs_of(uint4 v) {
  if constexpr (W == DType::F32) return {make_float4(__uint_as_float(v.x), __uint_as_float(v.y), __uint_as_float(v.z),
                                                     __uint_as_float(v.w))};
  else return {v};
}

// One pass of a row: each lane's V vectors at v0 + i * 32 + lane (zeros past the row's end).
template <int V>
__device__ __forceinline__ void load_pass(uint4 (&r)[V], const uint4* wr, int64_t v0, int64_t vecs, int lane,
                                          uint64_t policy) {
#pragma unroll
  for (int i = 0; i < V; ++i) {
    const int64_t v = v0 + i * 32 + lane;
    r[i] = v < vecs ? ld_stream(wr + v, policy) : make_uint4(0, 0, 0, 0);
  }
}

// A loaded pass against tokens 0..T-1 of x (float4 loads through L1).
template <DType W, int TMAX, int V>
__device__ __forceinline__ void take_pass(const uint4 (&r)[V], int64_t v0, int64_t vecs, int lane,
                                          const float* __restrict__ x, int64_t x_stride, int T, float (&acc)[TMAX]) {
  constexpr int E = Unit<W>::kElems;
#pragma unroll
  for (int i = 0; i < V; ++i) {
    const int64_t v = v0 + i * 32 + lane;
    if (v >= vecs) break;  // later i only go further
    float wf[E];
    Unit<W>::to_floats(regs_of<W>(r[i]), wf);
#pragma unroll
    for (int t = 0; t < TMAX; ++t) {
      if (t >= T) break;
      const float4* xv = reinterpret_cast<const float4*>(x + t * x_stride + v * E);
#pragma unroll
      for (int k = 0; k < E / 4; ++k) {
        const float4 a = __ldg(xv + k);
        acc[t] = fmaf(wf[4 * k], a.x, acc[t]);
        acc[t] = fmaf(wf[4 * k + 1], a.y, acc[t]);
        acc[t] = fmaf(wf[4 * k + 2], a.z, acc[t]);
        acc[t] = fmaf(wf[4 * k + 3], a.w, acc[t]);
      }
    }
  }
}

// The gate|up row pair j of this block's warps 2i, 2i + 1 (SwiGLU epilogue).
__device__ __forceinline__ int64_t swiglu_pair(int warp) { return int64_t(blockIdx.x) * (kWarps / 2) + warp / 2; }
// What a SwiGLU epilogue's warp adds to its row of the plain order to take gate row j or up row n_out / 2 + j.
__device__ __forceinline__ int64_t swiglu_offset(int64_t n_out, int warp) {
  return (warp % 2 ? n_out / 2 : 0) + swiglu_pair(warp) - (int64_t(blockIdx.x) * kWarps + warp);
}

// Blocks a multiprocessor holds at least (0: no bound), pinned where the code's register count sits
// at an occupancy step: one token's four-load kernel six (40 registers), so a 6144-row q|k|v product
// (768 blocks) is one wave of 132 multiprocessors.
template <int TMAX, int V, bool PIPE>
constexpr int kMinBlocks = TMAX == 1 && V == 4 && !PIPE ? 6 : 0;

template <DType W, int TMAX, int V = kVecs<TMAX>, bool PIPE = false>
__global__ void __launch_bounds__(kThreads, kMinBlocks<TMAX, V, PIPE>)
gemv_plain_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t n_out, int64_t vecs,
                  const float* __restrict__ x, int64_t x_stride, int T, const float* __restrict__ bias,
                  float* __restrict__ y, int64_t y_stride, bool accumulate, XregRope rope, bool early_release,
                  PlainNormOut norm_out, NormScale norm_scale, PlainSwiglu swiglu) {
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) / 32;
  // A SwiGLU epilogue pairs gate row j with up row n_out / 2 + j in warps 2i, 2i + 1 (PlainSwiglu);
  // j is recomputed where it is written: kept live through the loop, it took f16's one-token four-load
  // kernel from 39 registers to 48, five blocks a multiprocessor, and q|k|v's 768 blocks to two waves.
  const int64_t row = int64_t(blockIdx.x) * kWarps + warp + (swiglu.out ? swiglu_offset(n_out, warp) : 0);
  if (row >= n_out) return;  // warp-uniform; a norm_out or rope grid has none such (whole blocks)
  timeline::WarpClock clock;
  clock.begin();
  // The norm's weight does not depend on the kernel before: read before waiting for it.
  const float g_row = norm_out.g ? norm_out.g[row] : 0.f;
  // Nor does the row of y a producer adds into (its writer finished before the kernel before launched
  // this one: norm_handoff_args.h): read from L2 now, not after the loop; not in kernels pinned to a
  // register count (the register it holds spilled the four-load one).
  constexpr bool kEarlyY = kMinBlocks<TMAX, V, PIPE> == 0;
  const bool early_y = kEarlyY && norm_out.g && norm_out.y_before_wait;
  float y_prior[TMAX];
#pragma unroll
  for (int t = 0; t < TMAX; ++t) y_prior[t] = early_y && lane == 0 && t < T ? __ldcg(y + t * y_stride + row) : 0.f;
  double norm_sum[TMAX];  // norm_scale: the producer's sums of squares, read after the wait
  const uint64_t policy = staged::evict_first_policy();
  const uint4* wr = reinterpret_cast<const uint4*>(w + row * w_stride);
  float acc[TMAX];
#pragma unroll
  for (int t = 0; t < TMAX; ++t) acc[t] = 0.f;
  // The first pass of weights is issued before waiting for the kernel before (they do not depend on it).
  auto wait_for_inputs = [&] {
    pdl_wait();
    clock.inputs_ready();
    // A grid of one wave lets the next kernel launch now: its blocks take slots this grid leaves free.
    if (early_release) pdl_release();
    if (norm_scale.sum)  // read now, so its round trip overlaps the loads in flight
#pragma unroll
      for (int t = 0; t < TMAX; ++t) norm_sum[t] = t < T ? __ldcg(norm_scale.sum + t) : 0.0;
  };
  if constexpr (PIPE) {
    // Two passes in flight: the next one is issued before the current one is taken, so a warp's
    // loads do not stop between passes (rows of several passes in a one-wave grid).
    // Both first passes go out before the wait: the o product's blocks take the places attention's
    // few blocks leave free, and wait for it with twice the weights on their way.
    uint4 a[V], b[V];
    load_pass(a, wr, 0, vecs, lane, policy);
    load_pass(b, wr, 32 * V, vecs, lane, policy);
    if (vecs > 0) wait_for_inputs();
    for (int64_t v0 = 0; v0 < vecs; v0 += 64 * V) {
      take_pass<W, TMAX, V>(a, v0, vecs, lane, x, x_stride, T, acc);
      load_pass(a, wr, v0 + 64 * V, vecs, lane, policy);
      take_pass<W, TMAX, V>(b, v0 + 32 * V, vecs, lane, x, x_stride, T, acc);
      load_pass(b, wr, v0 + 96 * V, vecs, lane, policy);
    }
  } else {
    for (int64_t v0 = 0; v0 < vecs; v0 += 32 * V) {
      uint4 r[V];
      load_pass(r, wr, v0, vecs, lane, policy);
      if (v0 == 0) wait_for_inputs();
      take_pass<W, TMAX, V>(r, v0, vecs, lane, x, x_stride, T, acc);
    }
  }
  pdl_wait();  // already returned where the loop ran; rows of no vectors still wait before writing
  // The next kernel launches only as this one's blocks finish: its blocks, waiting early, would take
  // the places of this grid's later waves (f16 products run several waves).
  pdl_release();
  if (norm_scale.sum && vecs == 0)  // no loop ran to read the sums
#pragma unroll
    for (int t = 0; t < TMAX; ++t) norm_sum[t] = t < T ? __ldcg(norm_scale.sum + t) : 0.0;
  // W (g x / rms) = (W (g x)) / rms: the handed-over norm's scale of token t's sum.
  auto scaled = [&](float s, int t) {
    return norm_scale.sum ? s * float(1.0 / sqrt(norm_sum[t] / double(norm_scale.n) + double(norm_scale.eps))) : s;
  };
  if (rope.positions || swiglu.out) {  // every warp is here: the rows fill whole blocks
    __shared__ float pair[kWarps][TMAX];
#pragma unroll
    for (int t = 0; t < TMAX; ++t) {
      const float s = scaled(staged::warp_sum(acc[t]), t);
      if (lane == 0) pair[warp][t] = s + (bias ? bias[row] : 0.f);
    }
    __syncthreads();
    if (warp % 2 == 0)  // lane t rotates and stores token t's pair, or forms its SwiGLU value
#pragma unroll
      for (int t = 0; t < TMAX; ++t) {
        if (lane != t || t >= T) continue;
        if (swiglu.out) swiglu.out[t * swiglu.out_stride + swiglu_pair(warp)] = silu_mul(pair[warp][t], pair[warp + 1][t]);
        else rope_store_pair(rope, row, t, pair[warp][t], pair[warp + 1][t], y + t * y_stride);
      }
    clock.finish(lane, warp, uint32_t(n_out), uint32_t(vecs));
    return;
  }
  __shared__ float updated_rows[TMAX][kWarps];  // norm_out: the block's rows, for their squares
#pragma unroll
  for (int t = 0; t < TMAX; ++t) {
    if (t >= T) break;
    const float s = scaled(staged::warp_sum(acc[t]), t);
    if (lane == 0) {
      float* out = y + t * y_stride + row;
      const float prior = early_y ? y_prior[t] : *out;
      const float updated = accumulate ? prior + s : s + (bias ? bias[row] : 0.f);
      *out = updated;
      if (norm_out.g) {
        norm_out.out[t * n_out + row] = updated * g_row;
        updated_rows[t][warp] = updated;
      }
    }
  }
  if (norm_out.g) {  // uniform: every warp of the block is here
    // The sums the next producer adds into: their readers finished before this grid's wait.
    if (blockIdx.x == 0 && threadIdx.x < unsigned(kNormSumTokens)) norm_out.clear[threadIdx.x] = 0.0;
    __syncthreads();
    if (warp == 0)
      for (int t = 0; t < T && t < TMAX; ++t) {
        const double v = lane < kWarps ? double(updated_rows[t][lane]) : 0.0;
        double ss = v * v;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, o);
        if (lane == 0) atomicAdd(norm_out.sum + t, ss);
      }
  }
  clock.finish(lane, warp, uint32_t(n_out), uint32_t(vecs));
}

}  // namespace llmr::cuda_ops::plain
