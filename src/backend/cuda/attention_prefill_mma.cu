// Causal attention for prompts on tensor cores, flash-attention-2 style (f16 or q8_0 K/V caches,
// head_dim 64 or 128). One block = 4 warps = 64 query rows: the (token, query head) pairs of up to 64 / group
// consecutive tokens and all `group` query heads sharing one KV head, so every K/V tile read from
// memory serves the whole GQA group. Each warp owns 16 rows. K/V tiles of 64 keys stream through
// shared memory with cp.async, two stages deep; Q is converted to f16 once, pre-scaled by
// scale * log2(e), and kept in registers as mma A fragments. Per tile: S = Q K^T with
// mma.sync.m16n8k16 (f16 in, f32 accumulate), the causal mask, the online softmax in registers
// (exp2f, running max and sum per row), P rounded to f16 and reused in registers as the A fragments
// of O += P V. Tiles past the block's last visible key are never loaded; a warp skips the math of
// tiles past its own rows' keys. q8_0 caches: each thread loads 8 levels and their block's scale and
// stores them as 8 f16 (d * q rounded once, as an f16 cache would hold the value) into the same
// shared tiles; these loads are synchronous, so they hide less latency than cp.async.
// Numerics: Q and P are rounded to f16 (relative 2^-11); the row sum is taken over the rounded P, so
// every output is an exact convex combination of V rows with weights off by ~1e-3 relative at most.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/kernel_status.h"
#include "backend/cuda/kv_q8.cuh"
#include "backend/cuda/matmul_kernels.h"

namespace llmr::cuda_ops {
namespace {

constexpr int kBM = 64;  // query rows per block
constexpr int kBN = 64;  // keys per tile
constexpr int kWarps = kBM / 16;
constexpr int kThreads = 32 * kWarps;

struct PrefillParams {
  const float* q;
  int64_t q_stride;  // floats
  const void* k;      // f16 or q8_0 rows
  int64_t k_stride;   // bytes
  const void* v;
  int64_t v_stride;   // bytes
  float* out;
  int64_t out_stride;        // floats
  const int32_t* positions;  // device array, or null: positions[t] = first_pos + t
  int32_t first_pos;
  int T, group, rows_used;   // rows_used = tokens per block * group (<= kBM)
  int tokens_per_block;
  float q_scale;             // scale * log2(e): scores come out in log2 units
};

// Halves per shared-memory row: 16 bytes of padding put the 8 rows an ldmatrix reads in distinct banks.
template <int HD>
constexpr int kRow = HD + 8;

template <int HD>
constexpr size_t shared_bytes() {
  return sizeof(__half) * size_t(kRow<HD>) * (kBM + 4 * kBN);  // Q, then K and V with two stages each
}

__device__ __forceinline__ uint32_t half2_bits_of(float a, float b) {
  const __half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1; valid = false writes 16 zero bytes (no global read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, register i receives it.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const __half* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const __half* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

using cuda_detail::Q8;

// Elements [col, col + 8) of the q8_0 row at `row` as 8 f16 (one 16-byte shared-memory store).
__device__ __forceinline__ uint4 q8_as_half8(const char* row, int64_t col) {
  const auto r = cuda_detail::Q8Regs<8>::load(row, col);
  uint4 h;
  h.x = half2_bits_of(r.at(0), r.at(1));
  h.y = half2_bits_of(r.at(2), r.at(3));
  h.z = half2_bits_of(r.at(4), r.at(5));
  h.w = half2_bits_of(r.at(6), r.at(7));
  return h;
}

// d += a (16x16, row) * b (16x8, col); f16 inputs, f32 accumulators.
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t half2_bits(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }

// Fragment layouts used below (PTX ISA, mma.m16n8k16 f16; g = lane / 4, c = lane % 4):
//   A (16x16): reg0 (row g, cols 2c..2c+1), reg1 (row g+8, same), reg2 (row g, cols 2c+8..), reg3 (row g+8, cols 2c+8..)
//   B (16x8):  reg0 (rows 2c..2c+1, col g), reg1 (rows 2c+8.., col g)
//   C (16x8):  c0, c1 (row g, cols 2c, 2c+1), c2, c3 (row g+8, same cols)
template <int HD, typename KV>
__global__ void __launch_bounds__(kThreads) attention_prefill_mma_kernel(PrefillParams p) {
  constexpr int ROW = kRow<HD>;
  constexpr int KSTEPS = HD / 16;   // k-steps of S = Q K^T
  constexpr int DTILES = HD / 8;    // 8-wide column tiles of O
  constexpr int NTILES = kBN / 8;   // 8-wide key tiles of S
  constexpr int CHUNKS = HD / 8;    // 16-byte pieces of a K/V row
  static_assert(HD % 16 == 0 && (kBN * CHUNKS) % kThreads == 0);
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __half* q_s = reinterpret_cast<__half*>(smem_raw);  // [kBM][ROW]
  __half* k_s = q_s + kBM * ROW;                       // [2][kBN][ROW]
  __half* v_s = k_s + 2 * kBN * ROW;                   // [2][kBN][ROW]
  __shared__ int s_kv_len;

  // Blocks start in order of their linear index (x fastest): the latest tokens (most keys) go first,
  // so the long blocks do not end up in a tail wave.
  const int tile = int(gridDim.y) - 1 - int(blockIdx.y);
  const int kvh = blockIdx.x;
  const int t0 = tile * p.tokens_per_block;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, c = lane % 4;

  // Row r of the block: token t0 + r / group, query head kvh * group + r % group. Last visible key,
  // or -1 for rows past the block's tokens or past T.
  auto row_last = [&](int r) -> int {
    const int t = t0 + r / p.group;
    if (r >= p.rows_used || t >= p.T) return -1;
    return p.positions ? p.positions[t] : p.first_pos + t;
  };

  if (tid == 0) s_kv_len = 0;
  __syncthreads();
  const int last_a = row_last(warp * 16 + g), last_b = row_last(warp * 16 + g + 8);  // this thread's two rows
  const int warp_kv = __reduce_max_sync(0xFFFFFFFFu, max(last_a, last_b) + 1);       // keys any row of the warp sees
  const int warp_min_last = __reduce_min_sync(0xFFFFFFFFu, min(last_a, last_b));     // below it nothing is masked
  if (lane == 0) atomicMax(&s_kv_len, warp_kv);
  __syncthreads();
  const int kv_len = s_kv_len;  // >= 1: the block's first row is a real token
  const int n_tiles = (kv_len + kBN - 1) / kBN;

  const char* kbase = static_cast<const char*>(p.k);
  const char* vbase = static_cast<const char*>(p.v);
  const int64_t head_col = int64_t(kvh) * HD;  // this KV head's first element in a row
  auto load_tile = [&](int stage, int key0) {
    __half* ks = k_s + stage * kBN * ROW;
    __half* vs = v_s + stage * kBN * ROW;
#pragma unroll
    for (int j = 0; j < kBN * CHUNKS / kThreads; ++j) {
      const int i = tid + j * kThreads;
      const int r = i / CHUNKS, col = (i % CHUNKS) * 8, key = key0 + r;
      const bool ok = key < kv_len;  // keys past every row's last are zero-filled (V must stay finite)
      const int64_t row = ok ? key : 0;
      if constexpr (std::is_same_v<KV, Q8>) {
        const uint4 zero = make_uint4(0, 0, 0, 0);
        *reinterpret_cast<uint4*>(ks + r * ROW + col) = ok ? q8_as_half8(kbase + row * p.k_stride, head_col + col) : zero;
        *reinterpret_cast<uint4*>(vs + r * ROW + col) = ok ? q8_as_half8(vbase + row * p.v_stride, head_col + col) : zero;
      } else {
        cp_async16(ks + r * ROW + col, kbase + row * p.k_stride + (head_col + col) * 2, ok);
        cp_async16(vs + r * ROW + col, vbase + row * p.v_stride + (head_col + col) * 2, ok);
      }
    }
  };
  load_tile(0, 0);
  cp_async_commit();

  // Q -> f16, pre-scaled, into shared memory (zeros for unused rows), then into A fragments.
  for (int i = tid; i < kBM * HD / 2; i += kThreads) {
    const int r = i / (HD / 2), d = (i % (HD / 2)) * 2;
    const int t = t0 + r / p.group;
    float x0 = 0.f, x1 = 0.f;
    if (r < p.rows_used && t < p.T) {
      const float* src = p.q + int64_t(t) * p.q_stride + int64_t(kvh * p.group + r % p.group) * HD + d;
      x0 = src[0] * p.q_scale;
      x1 = src[1] * p.q_scale;
    }
    *reinterpret_cast<__half2*>(q_s + r * ROW + d) = __floats2half2_rn(x0, x1);
  }
  __syncthreads();
  uint32_t qf[KSTEPS][4];
#pragma unroll
  for (int kk = 0; kk < KSTEPS; ++kk)
    ldmatrix_x4(qf[kk], q_s + (warp * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * ROW + kk * 16 + (lane / 16) * 8);

  float o[DTILES][4];
#pragma unroll
  for (int dt = 0; dt < DTILES; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // rows g and g + 8; l: this thread's columns only

  for (int it = 0; it < n_tiles; ++it) {
    const int key0 = it * kBN;
    if (it + 1 < n_tiles) {
      load_tile((it + 1) & 1, key0 + kBN);  // its stage was last read in iteration it - 1 (barrier below)
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (key0 < warp_kv) {  // warp-uniform
      const __half* ks = k_s + (it & 1) * kBN * ROW;
      const __half* vs = v_s + (it & 1) * kBN * ROW;
      float s[NTILES][4];
#pragma unroll
      for (int nt = 0; nt < NTILES; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk)
#pragma unroll
        for (int np = 0; np < NTILES / 2; ++np) {
          // matrices: keys +0..7 / dims +0..7, keys +0..7 / dims +8..15, keys +8..15 / dims +0..7, keys +8..15 / dims +8..15
          uint32_t b[4];
          ldmatrix_x4(b, ks + (np * 16 + (lane % 8) + (lane / 16) * 8) * ROW + kk * 16 + ((lane / 8) % 2) * 8);
          mma_16816(s[2 * np], qf[kk], b[0], b[1]);
          mma_16816(s[2 * np + 1], qf[kk], b[2], b[3]);
        }
      if (key0 + kBN - 1 > warp_min_last) {  // some row of the warp cannot see some key of the tile
#pragma unroll
        for (int nt = 0; nt < NTILES; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int key = key0 + nt * 8 + 2 * c + (e & 1);
            if (key > (e < 2 ? last_a : last_b)) s[nt][e] = -INFINITY;
          }
      }
      // Online softmax: the row max over the quad of lanes that share the row.
      float mx[2] = {m[0], m[1]};
#pragma unroll
      for (int nt = 0; nt < NTILES; ++nt) {
        mx[0] = fmaxf(mx[0], fmaxf(s[nt][0], s[nt][1]));
        mx[1] = fmaxf(mx[1], fmaxf(s[nt][2], s[nt][3]));
      }
      float base[2], alpha[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xFFFFFFFFu, mx[h], 1));
        mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xFFFFFFFFu, mx[h], 2));
        base[h] = mx[h] == -INFINITY ? 0.f : mx[h];  // a row with no visible key yet: every p is 0
        alpha[h] = exp2f(m[h] - base[h]);            // 0 while m = -inf
        m[h] = mx[h];
      }
      // P in f16 as the A fragments of P V (k-step kk covers key tiles 2kk and 2kk + 1).
      uint32_t pf[NTILES / 2][4];
      float rs[2] = {0.f, 0.f};
#pragma unroll
      for (int nt = 0; nt < NTILES; ++nt) {
        const __half2 p01 = __floats2half2_rn(exp2f(s[nt][0] - base[0]), exp2f(s[nt][1] - base[0]));
        const __half2 p23 = __floats2half2_rn(exp2f(s[nt][2] - base[1]), exp2f(s[nt][3] - base[1]));
        const float2 f01 = __half22float2(p01), f23 = __half22float2(p23);
        rs[0] += f01.x + f01.y;  // the sum of the rounded weights: an exact convex combination of V
        rs[1] += f23.x + f23.y;
        pf[nt / 2][(nt % 2) * 2] = half2_bits(p01);
        pf[nt / 2][(nt % 2) * 2 + 1] = half2_bits(p23);
      }
      l[0] = l[0] * alpha[0] + rs[0];
      l[1] = l[1] * alpha[1] + rs[1];
#pragma unroll
      for (int dt = 0; dt < DTILES; ++dt) {
        o[dt][0] *= alpha[0];
        o[dt][1] *= alpha[0];
        o[dt][2] *= alpha[1];
        o[dt][3] *= alpha[1];
      }
#pragma unroll
      for (int kk = 0; kk < NTILES / 2; ++kk)
#pragma unroll
        for (int dp = 0; dp < DTILES / 2; ++dp) {
          // transposed matrices: keys +0..7 / dims +0..7, keys +8..15 / dims +0..7, keys +0..7 / dims +8..15, keys +8..15 / dims +8..15
          uint32_t b[4];
          ldmatrix_x4_trans(b, vs + (kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * ROW + dp * 16 + (lane / 16) * 8);
          mma_16816(o[2 * dp], pf[kk], b[0], b[1]);
          mma_16816(o[2 * dp + 1], pf[kk], b[2], b[3]);
        }
    }
    __syncthreads();  // every warp is done with this stage before it is loaded again
  }

#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xFFFFFFFFu, l[h], 1);
    l[h] += __shfl_xor_sync(0xFFFFFFFFu, l[h], 2);
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = warp * 16 + g + 8 * h, t = t0 + r / p.group;
    if (r >= p.rows_used || t >= p.T) continue;
    const float inv = 1.f / l[h];  // > 0: key 0 is visible to every row
    float* dst = p.out + int64_t(t) * p.out_stride + int64_t(kvh * p.group + r % p.group) * HD + 2 * c;
#pragma unroll
    for (int dt = 0; dt < DTILES; ++dt) {
      dst[dt * 8] = o[dt][2 * h] * inv;
      dst[dt * 8 + 1] = o[dt][2 * h + 1] * inv;
    }
  }
}

bool aligned16(const void* ptr, int64_t stride_bytes) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && stride_bytes % 16 == 0;
}

template <int HD, typename KV>
void launch(const PrefillParams& p, dim3 grid, cudaStream_t stream) {
  // Set on every call: the attribute belongs to the current device, and several may be in use.
  check_cuda(cudaFuncSetAttribute(attention_prefill_mma_kernel<HD, KV>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  int(shared_bytes<HD>())),
             "attention", "cudaFuncSetAttribute (prefill mma)");
  attention_prefill_mma_kernel<HD, KV><<<grid, kThreads, shared_bytes<HD>(), stream>>>(p);
  check_launch("attention", "attention_prefill_mma_kernel");
}

}  // namespace

bool flash_mma_requested() {
  return switch_on("LLMR_CUDA_FLASH_MMA");
}

bool attention_prefill_mma(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                           std::span<const int32_t> positions, const AttentionSpec& spec, const Tensor& out,
                           cudaStream_t stream, const int32_t* device_positions) {
  const int64_t T = q.rows();
  const int D = spec.head_dim;
  if (T < 1 || T > INT32_MAX || positions.empty() || !flash_mma_requested()) return false;
  const bool q8 = k_cache.type == DType::Q8_0 && v_cache.type == DType::Q8_0;
  if (!(q8 || (k_cache.type == DType::F16 && v_cache.type == DType::F16)) || (D != 64 && D != 128)) return false;
  // f16 rows go by cp.async in 16-byte pieces; q8_0 rows are read 2 bytes at a time.
  if (!q8 && (!aligned16(k_cache.data, k_cache.row_stride()) || !aligned16(v_cache.data, v_cache.row_stride())))
    return false;
  if (spec.n_kv_head < 1 || spec.n_head % spec.n_kv_head != 0) return false;
  const int group = spec.n_head / spec.n_kv_head;
  if (group < 1 || group > kBM) return false;

  PrefillParams p{};
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
  p.T = int(T);
  p.group = group;
  p.tokens_per_block = kBM / group;
  p.rows_used = p.tokens_per_block * group;
  p.q_scale = spec.scale * 1.4426950408889634f;  // log2(e)
  const int64_t blocks = (T + p.tokens_per_block - 1) / p.tokens_per_block;
  if (blocks > 65535) return false;  // grid.y
  const dim3 grid(unsigned(spec.n_kv_head), unsigned(blocks));
  if (q8) {
    if (D == 64) launch<64, Q8>(p, grid, stream);
    else launch<128, Q8>(p, grid, stream);
  } else {
    if (D == 64) launch<64, __half>(p, grid, stream);
    else launch<128, __half>(p, grid, stream);
  }
  return true;
}

}  // namespace llmr::cuda_ops
