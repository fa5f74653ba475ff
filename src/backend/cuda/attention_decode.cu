// Attention, flash-decoding style, in f32: made for generation steps (T <= kDecodeMaxTokens) and
// also taken by prompts (one block per (token, head group) then, rarely a split).
// Grid: (key split, KV head x head group, token). A block's warps (4; 16 for a single token's blocks
// of one head, so a short context's keys take one block and need no merge) take interleaved batches of
// keys; inside a warp, groups of LPK lanes each own one key at a time and hold VEC-element slices
// of its K/V rows (16-byte loads for aligned f16/f32 caches), so each load instruction reads whole
// rows and R keys per lane group are in flight before any is used. The group's query heads (up to
// NH of one KV head) sit in registers, pre-scaled; each lane group keeps its own online-softmax
// state (running max, sum, accumulator) with no cross-lane traffic in the loop but the LPK-lane
// dot reduction. At the end the lane groups, then the warps, are merged by their statistics; one
// split writes the output, several write partials that the block finishing a head group last
// combines (a counter per head group), so a step takes one launch.
// The splits are planned on the device from the position it reads: a captured decode step is sized
// for the cache rows it is given (a span of positions, transformer.cpp's decode_span), and the blocks
// past the keys the step has leave at once.
// q8_0 caches: a lane's VEC = 8 elements lie in one block, loaded as its scale and 8 levels (three
// registers, against four for eight f16) and turned to f32 where used.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/device_limits.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/kv_q8.cuh"
#include "backend/cuda/matmul_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quantize_xblock.cuh"
#include "backend/cuda/stream_arena.h"
#include "backend/cuda/warp_timeline.cuh"

namespace llmr::cuda_ops {
namespace {

constexpr int kMaxSplits = 256;      // the merge's shared weights
constexpr int kMinKeysPerSplit = 32;

struct DecodeParams {
  const float* q;
  int64_t q_stride;  // floats
  const void* k;
  int64_t k_stride;  // bytes
  const void* v;
  int64_t v_stride;  // bytes
  float* out;
  int64_t out_stride;
  const int32_t* positions;  // device array, or null: positions[t] = first_pos + t
  int32_t first_pos;
  int n_head, head_dim, group, head_groups;
  float scale;
  int n_split;      // the most splits a token takes (grid.x)
  float* part_o;    // [T, n_head, n_split, head_dim]: accumulators relative to the split's max
  float2* part_ml;  // [T, n_head, n_split]: (max, sum); max = -inf for a split with no keys
  unsigned* done;   // [T, grid.y]: splits finished per head group, back to 0 after the merge
  KvBlockTable table;  // paged cache: key rows through block tables; blocks == null: row = position
  XBlock* xq;  // or null: the output is also written as the integer GEMV's activations, [T][n_head * head_dim / 32]
  bool early_rows;  // one token (T = 1): the rows before its own are read before the wait (pdl.cuh)
};

// How a token's keys are split: `count` splits of `per` keys (a multiple of 32), at most n_split,
// each at least min_keys keys (what a block's warps take in one pass, or kMinKeysPerSplit).
struct SplitPlan {
  int per, count;
};

__device__ __forceinline__ SplitPlan plan_splits(const DecodeParams& p, int n_keys, int min_keys) {
  const int want = max(1, min(p.n_split, (n_keys + min_keys - 1) / min_keys));
  const int per = ((n_keys + want - 1) / want + 31) / 32 * 32;
  return {per, (n_keys + per - 1) / per};
}

// Element d of query head `head`'s output for token t; with xq, also its int8 block. Every lane of
// the warp calls it together, for 32 adjacent elements of one head (head_dim % 32 == 0 with xq).
__device__ __forceinline__ void write_output(const DecodeParams& p, int t, int head, int d, float v) {
  const int64_t col = int64_t(head) * p.head_dim + d;
  p.out[int64_t(t) * p.out_stride + col] = v;
  if (p.xq) quantize_block(v, threadIdx.x & 31, p.xq[(int64_t(t) * p.n_head * p.head_dim + col) / 32]);
}

// Keys token t attends to: positions up to its own.
__device__ __forceinline__ int token_keys(const DecodeParams& p, int t) {
  return (p.positions ? __ldcg(p.positions + t) : p.first_pos + t) + 1;  // from L2: may be read before the wait
}

// out[t, h] = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s over the splits that saw keys, for the
// heads h0 .. h0 + nh - 1 (nh <= NH <= NW, the block's warps). A warp reads a head's statistics, all
// lanes at a time; M is a max (any order), L is summed in a fixed order. A thread's partials are all loaded before any
// output is written, from L2 (other blocks wrote them).
template <int NH, int NW>
__device__ void merge_splits(const DecodeParams& p, int t, int h0, int nh, int count) {
  __shared__ float wts[NH][kMaxSplits];
  __shared__ float inv_l[NH];
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  if (warp < nh) {
    const float2* ml = p.part_ml + (int64_t(t) * p.n_head + h0 + warp) * p.n_split;
    float m = -INFINITY;
    for (int s = lane; s < count; s += 32) m = fmaxf(m, __ldcg(&ml[s]).x);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xFFFFFFFFu, m, o));  // finite: split 0 holds key 0
    float l = 0.f;
    for (int s = lane; s < count; s += 32) {
      const float2 v = __ldcg(&ml[s]);
      const float w = v.x == -INFINITY ? 0.f : expf(v.x - m);
      wts[warp][s] = w;
      l = fmaf(w, v.y, l);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xFFFFFFFFu, l, o);
    if (lane == 0) inv_l[warp] = 1.f / l;
  }
  __syncthreads();
  constexpr int kThreads = 32 * NW;
  constexpr int kPer = (NH * kMaxAttentionHeadDim + kThreads - 1) / kThreads;  // elements a thread merges
  const int D = p.head_dim, n = nh * D;
  const float* po = p.part_o + (int64_t(t) * p.n_head + h0) * p.n_split * D;
  float o[kPer];
#pragma unroll
  for (int i = 0; i < kPer; ++i) o[i] = 0.f;
#pragma unroll 4
  for (int s = 0; s < count; ++s)
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = threadIdx.x + i * kThreads, h = idx / D;
      if (idx < n) o[i] = fmaf(wts[h][s], __ldcg(po + (int64_t(h) * p.n_split + s) * D + idx % D), o[i]);
    }
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int idx = threadIdx.x + i * kThreads, h = idx / D;
    if (idx < n) write_output(p, t, h0 + h, idx % D, o[i] * inv_l[h]);
  }
}

// The cache row holding position `key` of query row t's sequence.
__device__ __forceinline__ int64_t cache_row(const DecodeParams& p, int t, int key) {
  if (!p.table.blocks) return key;
  const int bs = p.table.block_size;
  return int64_t(__ldcg(p.table.blocks + int64_t(t) * p.table.stride + key / bs)) * bs + key % bs;
}

// VEC cache elements loaded as one vector (float or raw f16 bits).
template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Pack {
  T v[VEC];
};

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(uint16_t x) { return __half2float(__ushort_as_half(x)); }

using cuda_detail::Q8;

// VEC elements of a cache row held in registers: Regs, loaded from element `col` of a row, zeroed
// for keys past the end, read as f32. T is float, uint16_t (f16 bits) or Q8 (q8_0 blocks).
template <typename T, int VEC>
struct CacheVec {
  using Regs = Pack<T, VEC>;
  static __device__ __forceinline__ Regs load(const char* row, int64_t col) {
    return *reinterpret_cast<const Regs*>(row + col * int64_t(sizeof(T)));
  }
  static __device__ __forceinline__ Regs zero() {
    Regs r;
#pragma unroll
    for (int i = 0; i < VEC; ++i) r.v[i] = T(0);
    return r;
  }
  static __device__ __forceinline__ float at(const Regs& r, int i) { return to_f(r.v[i]); }
};

template <int VEC>
struct CacheVec<Q8, VEC> {
  using Regs = cuda_detail::Q8Regs<VEC>;
  static __device__ __forceinline__ Regs load(const char* row, int64_t col) { return Regs::load(row, col); }
  static __device__ __forceinline__ Regs zero() { return Regs::zero(); }
  static __device__ __forceinline__ float at(const Regs& r, int i) { return r.at(i); }
};

template <typename KT, typename VT, int VEC, int LPK, int NCH, int NH, int R, int NW>
__global__ void __launch_bounds__(32 * NW) attention_decode_kernel(DecodeParams p) {
  constexpr int kWarps = NW, kThreads = 32 * NW;
  constexpr int E = VEC * NCH;         // elements of a row per lane
  constexpr int GROUPS = 32 / LPK;     // keys a warp handles side by side
  constexpr int KEYS = GROUPS * R;     // keys per warp per iteration
  constexpr int CAP = LPK * E;         // head_dim capacity of the lane layout
  static_assert(LPK >= 1 && LPK <= 32 && (32 % LPK) == 0);
  __shared__ float s_ml[kWarps][NH][2];
  __shared__ float s_o[kWarps][NH][CAP];

  const int split = blockIdx.x, t = blockIdx.z;
  const int kvh = blockIdx.y / p.head_groups, hg = blockIdx.y % p.head_groups;
  const int h0 = kvh * p.group + hg * NH;
  const int nh = min(NH, p.group - hg * NH);
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int j = lane % LPK, grp = lane / LPK;
  const int D = p.head_dim;
  timeline::WarpClock clock;  // marked as a product of n_head rows and no vectors (tools/warp_timeline.py)
  clock.begin();
  // A single token's step reads before the wait what earlier ops wrote (pdl.cuh): its position, the
  // block table and the cache rows before its own. Its own row and q come from the kernel before.
  if (!p.early_rows) pdl_wait();
  const int n_keys = token_keys(p, t);
  const SplitPlan plan = plan_splits(p, n_keys, max(kMinKeysPerSplit, kWarps * KEYS));
  // A block past this token's keys leaves at once, without waiting on the kernel before (it writes
  // nothing; split 0 always has keys and waits, so this kernel's completion still implies that one's):
  // a captured step is sized for its span of the cache, and idle blocks parked at the wait would hold
  // multiprocessor slots the running kernel wants.
  if (split >= plan.count) return;
  const int k_begin = split * plan.per, k_end = min(n_keys, k_begin + plan.per);

  // element (c, i) of this lane: d = (c * LPK + j) * VEC + i; a chunk is all in or all out (D % VEC == 0)
  bool chunk_ok[NCH];
#pragma unroll
  for (int c = 0; c < NCH; ++c) chunk_ok[c] = (c * LPK + j) * VEC < D;

  using KC = CacheVec<KT, VEC>;
  using VC = CacheVec<VT, VEC>;
  const char* kbase = static_cast<const char*>(p.k);
  const char* vbase = static_cast<const char*>(p.v);
  const int64_t head_col = int64_t(kvh) * D;  // this KV head's first element in a row
  typename KC::Regs kr[R][NCH];
  typename VC::Regs vr[R][NCH];
  // The K/V rows of the batch of keys at `base` into kr / vr, those of keys `fresh` and past the split zeroed.
  auto load_keys = [&](int base, int fresh) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int key = base + r * GROUPS + grp;
#pragma unroll
      for (int c = 0; c < NCH; ++c) {
        const int d0 = (c * LPK + j) * VEC;
        if (key < k_end && key != fresh && chunk_ok[c]) {
          const int64_t row = cache_row(p, t, key);
          kr[r][c] = KC::load(kbase + row * p.k_stride, head_col + d0);
          vr[r][c] = VC::load(vbase + row * p.v_stride, head_col + d0);
        } else {
          kr[r][c] = KC::zero();
          vr[r][c] = VC::zero();
        }
      }
    }
  };
  const int first = k_begin + warp * KEYS;  // this warp's first batch
  const int fresh = n_keys - 1;             // the token's own row
  if (p.early_rows) {
    load_keys(first, fresh);
    pdl_wait();
  }
  clock.inputs_ready();
  pdl_release();

  float q[NH][E], acc[NH][E], m[NH], l[NH];
#pragma unroll
  for (int h = 0; h < NH; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.f;
    const float* qh = p.q + int64_t(t) * p.q_stride + int64_t(h0 + h) * D;
#pragma unroll
    for (int c = 0; c < NCH; ++c)
#pragma unroll
      for (int i = 0; i < VEC; ++i) {
        const int d = (c * LPK + j) * VEC + i;
        q[h][c * VEC + i] = (h < nh && chunk_ok[c]) ? qh[d] * p.scale : 0.f;
        acc[h][c * VEC + i] = 0.f;
      }
  }
  if (p.early_rows) {
#pragma unroll
    for (int r = 0; r < R; ++r)
      if (first + r * GROUPS + grp == fresh && fresh < k_end) {
        const int64_t row = cache_row(p, t, fresh);
#pragma unroll
        for (int c = 0; c < NCH; ++c)
          if (chunk_ok[c]) {
            const int d0 = (c * LPK + j) * VEC;
            kr[r][c] = KC::load(kbase + row * p.k_stride, head_col + d0);
            vr[r][c] = VC::load(vbase + row * p.v_stride, head_col + d0);
          }
      }
  } else {
    load_keys(first, -1);
  }

  for (int base = first; base < k_end; base += kWarps * KEYS) {  // warp-uniform
    if (base != first) load_keys(base, -1);
    float s[R][NH];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int h = 0; h < NH; ++h) {
        float dot = 0.f;
#pragma unroll
        for (int c = 0; c < NCH; ++c)
#pragma unroll
          for (int i = 0; i < VEC; ++i) dot = fmaf(q[h][c * VEC + i], KC::at(kr[r][c], i), dot);
#pragma unroll
        for (int o = LPK / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xFFFFFFFFu, dot, o);
        s[r][h] = dot;
      }
#pragma unroll
    for (int h = 0; h < NH; ++h) {
      float mx = m[h];
#pragma unroll
      for (int r = 0; r < R; ++r)
        if (base + r * GROUPS + grp < k_end) mx = fmaxf(mx, s[r][h]);
      if (mx == -INFINITY) continue;  // this lane group has no key in the batch (no shuffles below)
      const float corr = expf(m[h] - mx);  // 0 while m = -inf
      l[h] *= corr;
#pragma unroll
      for (int e = 0; e < E; ++e) acc[h][e] *= corr;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (base + r * GROUPS + grp >= k_end) continue;
        const float pr = expf(s[r][h] - mx);
        l[h] += pr;
#pragma unroll
        for (int c = 0; c < NCH; ++c)
#pragma unroll
          for (int i = 0; i < VEC; ++i) acc[h][c * VEC + i] = fmaf(pr, VC::at(vr[r][c], i), acc[h][c * VEC + i]);
      }
      m[h] = mx;
    }
  }

  // Merge the warp's lane groups (lanes j, j + LPK, ... hold the same elements of different keys).
#pragma unroll
  for (int h = 0; h < NH; ++h) {
    float M = m[h];
#pragma unroll
    for (int o = LPK; o < 32; o <<= 1) M = fmaxf(M, __shfl_xor_sync(0xFFFFFFFFu, M, o));
    const float w = m[h] == -INFINITY ? 0.f : expf(m[h] - M);
    float L = l[h] * w;
#pragma unroll
    for (int o = LPK; o < 32; o <<= 1) L += __shfl_xor_sync(0xFFFFFFFFu, L, o);
#pragma unroll
    for (int e = 0; e < E; ++e) {
      float a = acc[h][e] * w;
#pragma unroll
      for (int o = LPK; o < 32; o <<= 1) a += __shfl_xor_sync(0xFFFFFFFFu, a, o);
      acc[h][e] = a;
    }
    m[h] = M;
    l[h] = L;
  }
  if (grp == 0) {
#pragma unroll
    for (int h = 0; h < NH; ++h) {
#pragma unroll
      for (int c = 0; c < NCH; ++c)
        if (chunk_ok[c])
#pragma unroll
          for (int i = 0; i < VEC; ++i) s_o[warp][h][(c * LPK + j) * VEC + i] = acc[h][c * VEC + i];
      if (j == 0) {
        s_ml[warp][h][0] = m[h];
        s_ml[warp][h][1] = l[h];
      }
    }
  }
  __syncthreads();

  // Merge the warps; write the output (one split) or this split's partials.
  for (int idx = threadIdx.x; idx < nh * D; idx += kThreads) {
    const int h = idx / D, d = idx % D;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, s_ml[w][h][0]);
    float L = 0.f, o = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float mw = s_ml[w][h][0];
      if (mw == -INFINITY) continue;
      const float wt = expf(mw - M);
      L += wt * s_ml[w][h][1];
      o += wt * s_o[w][h][d];
    }
    const int head = h0 + h;
    if (plan.count == 1) {
      write_output(p, t, head, d, o / L);
    } else {
      const int64_t slot = (int64_t(t) * p.n_head + head) * p.n_split + split;
      p.part_o[slot * D + d] = o;
      if (d == 0) p.part_ml[slot] = make_float2(M, L);
    }
  }
  clock.finish(lane, warp, uint32_t(p.n_head), 0);
  if (plan.count == 1) return;

  // The block that finishes its head group's splits last merges them (the partials are fenced before
  // the count, and read after it from L2), and sets the count back for the next launch.
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned* done = p.done + int64_t(t) * gridDim.y + blockIdx.y;
    last = atomicAdd(done, 1u) == unsigned(plan.count - 1);
    if (last) *done = 0;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  merge_splits<NH, NW>(p, t, h0, nh, plan.count);
}

// Launch configuration chosen on the host from the cache types, head_dim and alignment.
struct Config {
  int vec, lpk, nch, nh, r;
  int warps = 4;  // a block's; 8 or 16 only with one head a block
};

template <typename KT, typename VT, int VEC, int LPK, int NCH, int NH, int R, int NW>
void launch(const DecodeParams& p, dim3 grid, cudaStream_t stream) {
  timeline::write_marks_at_exit(".attention");
  // The generation step's shared split (pdl.cu); LLMR_CUDA_CARVEOUT_ATTENTION=0 (read at every launch): the driver's.
  if (switch_on("LLMR_CUDA_CARVEOUT_ATTENTION"))
    share_small_carveout(reinterpret_cast<const void*>(attention_decode_kernel<KT, VT, VEC, LPK, NCH, NH, R, NW>),
                         32 * NW, 0);
  launch_pdl(attention_decode_kernel<KT, VT, VEC, LPK, NCH, NH, R, NW>, grid, dim3(32 * NW), 0, stream, "attention",
             "attention_decode_kernel", p);
}

template <typename KT, typename VT, int VEC, int LPK, int NCH, int R>
void launch_nh(const Config& c, const DecodeParams& p, dim3 grid, cudaStream_t s) {
  if (c.nh == 1 && c.warps == 16) return launch<KT, VT, VEC, LPK, NCH, 1, R, 16>(p, grid, s);
  if (c.nh == 1 && c.warps == 8) return launch<KT, VT, VEC, LPK, NCH, 1, R, 8>(p, grid, s);
  if (c.nh == 1) return launch<KT, VT, VEC, LPK, NCH, 1, R, 4>(p, grid, s);
  return launch<KT, VT, VEC, LPK, NCH, 4, R, 4>(p, grid, s);
}

template <typename T, int VEC>
void launch_fast(const Config& c, const DecodeParams& p, dim3 grid, cudaStream_t s) {
  if constexpr (VEC == 4)
    if (c.nch == 2) return launch_nh<T, T, VEC, 32, 2, 4>(c, p, grid, s);
  switch (c.lpk) {
    case 4: return launch_nh<T, T, VEC, 4, 1, 4>(c, p, grid, s);
    case 8: return launch_nh<T, T, VEC, 8, 1, 4>(c, p, grid, s);
    case 16: return launch_nh<T, T, VEC, 16, 1, 4>(c, p, grid, s);
    default: return launch_nh<T, T, VEC, 32, 1, 4>(c, p, grid, s);
  }
}

template <typename KT, typename VT>
void launch_generic(const Config& c, const DecodeParams& p, dim3 grid, cudaStream_t s) {
  if (c.nh == 1) return launch<KT, VT, 1, 32, 8, 1, 2, 4>(p, grid, s);
  launch<KT, VT, 1, 32, 8, 4, 2, 4>(p, grid, s);
}

int pow2_at_least(int n) {
  int v = 4;
  while (v < n && v < 32) v <<= 1;
  return v;
}

int attention_warps() {
  static const int n = [] {
    const char* v = std::getenv("LLMR_CUDA_ATTN_WARPS");
    const int w = v ? std::atoi(v) : 16;
    return w == 4 || w == 8 ? w : 16;
  }();
  return n;
}

bool aligned16(const void* ptr, int64_t stride_bytes) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && stride_bytes % 16 == 0;
}

}  // namespace

bool old_kernels_requested() {
  const char* v = std::getenv("LLMR_CUDA_OLD_KERNELS");
  return v && *v && std::strcmp(v, "0") != 0 && std::strcmp(v, "prefill") != 0;
}

bool fused_gemv_requested() {
  const char* v = std::getenv("LLMR_CUDA_FUSED_GEMV");
  return v && *v && std::strcmp(v, "0") != 0;
}

bool old_prefill_attention_requested() {
  const char* v = std::getenv("LLMR_CUDA_OLD_KERNELS");
  return v && std::strcmp(v, "prefill") == 0;
}

bool attention_decode(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, std::span<const int32_t> positions,
                      const AttentionSpec& spec, const Tensor& out, cudaStream_t stream,
                      const int32_t* device_positions, const KvBlockTable& table, XBlock* xq) {
  const int64_t T = q.rows();
  if (T < 1 || T > 65535 || spec.head_dim > kMaxAttentionHeadDim) return false;  // grid.z = T
  if (xq && spec.head_dim % 32) return false;
  const int D = spec.head_dim;
  const bool f16 = k_cache.type == DType::F16 && v_cache.type == DType::F16;
  const bool f32 = k_cache.type == DType::F32 && v_cache.type == DType::F32;
  const bool q8 = k_cache.type == DType::Q8_0 && v_cache.type == DType::Q8_0;
  // q8_0 beside another type: attention.cu's kernel, which reads any pair element by element.
  if ((k_cache.type == DType::Q8_0 || v_cache.type == DType::Q8_0) && !q8) return false;
  const bool aligned = aligned16(k_cache.data, k_cache.row_stride()) && aligned16(v_cache.data, v_cache.row_stride());
  const int group = spec.n_head / spec.n_kv_head;
  // A block takes one query head where even that grid is small (generation: the work is a chain of
  // dependent steps, shorter per lane with one head), four of a KV head's where it is large (their K/V
  // loads shared). Measured in the decode step (Q4_K tg128 508 -> 529).
  const bool small_grid = T * spec.n_head <= 4 * int64_t(device_limits("attention").multiprocessors);
  Config c{1, 32, 8, group == 1 || small_grid ? 1 : 4, 2};
  if ((f16 && aligned && D % 8 == 0) || q8) c = {8, pow2_at_least(D / 8), 1, c.nh, 4};  // q8_0: D % 32 == 0
  else if (f32 && aligned && D % 4 == 0) c = D <= 128 ? Config{4, pow2_at_least(D / 4), 1, c.nh, 4} : Config{4, 32, 2, c.nh, 4};

  DecodeParams p{};
  p.q = static_cast<const float*>(q.data);
  p.q_stride = q.row_stride() / 4;
  p.k = k_cache.data;
  p.k_stride = k_cache.row_stride();
  p.v = v_cache.data;
  p.v_stride = v_cache.row_stride();
  p.out = static_cast<float*>(out.data);
  p.out_stride = out.row_stride() / 4;
  p.positions = device_positions;
  p.first_pos = positions[0];
  p.n_head = spec.n_head;
  p.head_dim = D;
  p.group = group;
  p.head_groups = (group + c.nh - 1) / c.nh;
  p.scale = spec.scale;
  p.table = table;
  int32_t max_pos = 0;
  for (int32_t pos : positions) max_pos = std::max(max_pos, pos);
  const int64_t max_keys = int64_t(max_pos) + 1;

  // A single token's heads, one a block, take blocks of 16 warps: the keys of a short context in one
  // pass of one block, with no partials to merge. Q4_K tg128 540 -> 557, Q4_0 562 -> 582 against 4
  // warps (docs/measurements/2026-11-29-h200-14/attention_warps.log; LLMR_CUDA_ATTN_WARPS=4|8|16).
  if (c.nh == 1 && c.vec > 1 && T == 1) c.warps = attention_warps();
  const int block_keys = std::max(kMinKeysPerSplit, c.warps * (32 / c.lpk) * c.r);

  // About sixteen warps a multiprocessor, each split at least block_keys keys (of the most a token
  // may have: each token's own plan, made on the device, may take fewer).
  const int64_t base_blocks = T * int64_t(spec.n_kv_head) * p.head_groups;
  const int64_t want_blocks = 16 * int64_t(device_limits("attention").multiprocessors) / c.warps;
  int64_t n_split = (want_blocks + base_blocks - 1) / base_blocks;
  n_split = std::clamp<int64_t>(std::min(n_split, (max_keys + block_keys - 1) / block_keys), 1, kMaxSplits);
  p.n_split = int(n_split);
  p.early_rows = T == 1 && pdl_enabled();
  if (int64_t(spec.n_kv_head) * p.head_groups > 65535) return false;
  p.xq = xq;

  const size_t o_bytes = p.n_split > 1 ? size_t(T * spec.n_head * p.n_split * D) * 4 : 0;
  const size_t ml_bytes = p.n_split > 1 ? size_t(T * spec.n_head * p.n_split) * sizeof(float2) : 0;
  SlotScratch scratch(o_bytes + ml_bytes, stream, ArenaSlot::AttentionPartials, "attention");  // one allocation: partials, then (max, sum)
  p.part_o = scratch.as<float>();
  p.part_ml = p.n_split > 1 ? reinterpret_cast<float2*>(scratch.as<char>() + o_bytes) : nullptr;
  if (p.n_split > 1)
    p.done = static_cast<unsigned*>(stream_arena_zeroed(stream, ArenaSlot::AttentionCounters,
                                                        size_t(base_blocks) * sizeof(unsigned), "attention"));

  const dim3 grid(unsigned(p.n_split), unsigned(spec.n_kv_head * p.head_groups), unsigned(T));
  if (q8) launch_fast<Q8, 8>(c, p, grid, stream);
  else if (c.vec == 8) launch_fast<uint16_t, 8>(c, p, grid, stream);
  else if (c.vec == 4) launch_fast<float, 4>(c, p, grid, stream);
  else if (k_cache.type == DType::F16 && v_cache.type == DType::F16) launch_generic<uint16_t, uint16_t>(c, p, grid, stream);
  else if (k_cache.type == DType::F16) launch_generic<uint16_t, float>(c, p, grid, stream);
  else if (v_cache.type == DType::F16) launch_generic<float, uint16_t>(c, p, grid, stream);
  else launch_generic<float, float>(c, p, grid, stream);
  return true;
}

}  // namespace llmr::cuda_ops
