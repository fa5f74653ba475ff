// Matrix-vector products for generation (T <= 8): one warp per weight row, lanes striding over
// 32-element units so the warp reads consecutive blocks; weights decoded once and applied to every
// token's activations; quantized types take int8 activations with dp4a, quantized inside the
// kernel (gemv_int8_fused_kernel) when they fit in shared memory, else by quantize_x_kernel first
// (also the path LLMR_CUDA_OLD_KERNELS=1 keeps). LLMR_CUDA_FLOAT_GEMV=1 instead decodes quantized
// weights to f32 in registers and takes them against the f32 activations (gemv_quant_f32_kernel).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

#include "backend/cuda/gemv_plain.cuh"
#include "backend/cuda/gemv_plain_stream.cuh"
#include "backend/cuda/gemv_xreg.h"
#include "backend/cuda/gemv_staged.cuh"
#include "backend/cuda/device_limits.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/matmul_kernels.h"
#include "backend/cuda/norm_handoff.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quant_device.cuh"
#include "backend/cuda/quantize_xblock.cuh"
#include "backend/cuda/rms_norm_quantize.h"
#include "backend/cuda/stream_arena.h"

namespace llmr::cuda_ops {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kGemvThreads = 32 * kWarpsPerBlock;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

// x [T, n] f32 (row stride x_stride floats) -> XBlocks [T, n/32]: one warp per block, a lane per value.
__global__ void quantize_x_kernel(const float* __restrict__ x, int64_t x_stride, int64_t n, int64_t T,
                                  XBlock* __restrict__ out) {
  pdl_wait();
  pdl_release();  // the GEMV after it may start loading weights now
  const int64_t blocks_per_row = n / 32;
  const int64_t blk = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (blk >= blocks_per_row * T) return;
  const int64_t t = blk / blocks_per_row, b = blk % blocks_per_row;
  quantize_block(x[t * x_stride + b * 32 + lane], lane, out[blk]);
}

// The same of act = silu(gate) * up, formed as CudaBackend::swiglu forms it (same bits), so the down
// projection's input never goes through memory in f32.
__global__ void quantize_swiglu_kernel(const float* __restrict__ gate, int64_t g_stride, const float* __restrict__ up,
                                       int64_t u_stride, int64_t n, int64_t T, XBlock* __restrict__ out) {
  pdl_wait();
  pdl_release();
  const int64_t blocks_per_row = n / 32;
  const int64_t blk = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (blk >= blocks_per_row * T) return;
  const int64_t t = blk / blocks_per_row, k = blk % blocks_per_row * 32 + lane;
  const float g = gate[t * g_stride + k];
  quantize_block(g / (1.f + expf(-g)) * up[t * u_stride + k], lane, out[blk]);
}

// Integer path: y[t][row] = sum_u dot(unit u of row, xblock u of token t).
template <DType W, int TMAX>
__global__ void __launch_bounds__(kGemvThreads)
gemv_int8_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t n_out, int64_t units,
                 const XBlock* __restrict__ xq, int T, const float* __restrict__ bias, float* __restrict__ y,
                 int64_t y_stride) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= n_out) return;
  const uint8_t* wr = w + row * w_stride;
  float acc[TMAX];
#pragma unroll
  for (int t = 0; t < TMAX; ++t) acc[t] = 0.f;
  // q6_k: its unit already issues 34 independent loads (66 bytes); unrolled it took 128-255
  // registers (spilling at T=2), not unrolled 32 at T=1
  constexpr int kUnroll = W == DType::Q6_K ? 1 : 4;
#pragma unroll kUnroll
  for (int64_t u = lane; u < units; u += 32) {
    const auto r = Unit<W>::load(wr, u);
#pragma unroll
    for (int t = 0; t < TMAX; ++t)
      if (t < T) acc[t] += Unit<W>::dot(r, xq + t * units + u);
  }
#pragma unroll
  for (int t = 0; t < TMAX; ++t) {
    if (t >= T) break;
    const float s = warp_sum(acc[t]);
    if (lane == 0) y[t * y_stride + row] = s + (bias ? bias[row] : 0.f);
  }
}

// Fused integer path (one launch, no scratch): each block quantizes the activations into shared
// memory itself (the same XBlocks as quantize_x_kernel), its warps' weight rows already on their
// way to L2 (prefetch), then each warp takes RPW rows, their units loaded side by side.
constexpr int kFusedWarps = 8;
constexpr int kFusedThreads = 32 * kFusedWarps;
constexpr size_t kFusedMaxShared = 48 * 1024;  // the default dynamic shared memory limit

// WORDS: q4_0 / q8_0 units read as aligned 32-bit words (4-byte aligned rows of an even number of units).
template <DType W, int TMAX, int RPW, bool WORDS>
__global__ void __launch_bounds__(kFusedThreads)
gemv_int8_fused_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t w_row_bytes, int64_t n_out,
                       int units, const float* __restrict__ x, int64_t x_stride, int T,
                       const float* __restrict__ bias, float* __restrict__ y, int64_t y_stride) {
  extern __shared__ XBlock xs[];  // [T][units]
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int64_t row0 = (int64_t(blockIdx.x) * kFusedWarps + warp) * RPW;
#pragma unroll
  for (int r = 0; r < RPW; ++r)
    if (row0 + r < n_out) {
      const uint8_t* wr = w + (row0 + r) * w_stride;
      for (int64_t off = int64_t(lane) * 128; off < w_row_bytes; off += 32 * 128)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(wr + off));
    }
  const int nb = T * units;
  for (int b0 = warp; b0 < nb; b0 += 8 * kFusedWarps) {  // eight blocks' loads in flight per warp
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int b = b0 + i * kFusedWarps;
      v[i] = b < nb ? x[int64_t(b / units) * x_stride + int64_t(b % units) * 32 + lane] : 0.f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int b = b0 + i * kFusedWarps;  // warp-uniform
      if (b < nb) quantize_block(v[i], lane, xs[b]);
    }
  }
  __syncthreads();
  if (row0 >= n_out) return;

  const uint8_t* wr[RPW];
#pragma unroll
  for (int r = 0; r < RPW; ++r) wr[r] = w + min(row0 + r, n_out - 1) * w_stride;  // past the end: row n_out-1 again, not written
  float acc[RPW][TMAX];
#pragma unroll
  for (int r = 0; r < RPW; ++r)
#pragma unroll
    for (int t = 0; t < TMAX; ++t) acc[r][t] = 0.f;
  constexpr int kUnroll = W == DType::Q6_K ? 1 : 4;  // as in gemv_int8_kernel: q6_k's unit is 34 loads
#pragma unroll kUnroll
  for (int u = lane; u < units; u += 32) {
    typename Unit<W>::Regs regs[RPW];
#pragma unroll
    for (int r = 0; r < RPW; ++r) {
      if constexpr (WORDS) regs[r] = Unit<W>::load_words(wr[r], u);
      else regs[r] = Unit<W>::load(wr[r], u);
    }
#pragma unroll
    for (int r = 0; r < RPW; ++r)
#pragma unroll
      for (int t = 0; t < TMAX; ++t)
        if (t < T) acc[r][t] += Unit<W>::dot(regs[r], xs + t * units + u);
  }
#pragma unroll
  for (int r = 0; r < RPW; ++r) {
    const int64_t row = row0 + r;
#pragma unroll
    for (int t = 0; t < TMAX; ++t) {
      if (t >= T) break;
      const float s = warp_sum(acc[r][t]);
      if (lane == 0 && row < n_out) y[t * y_stride + row] = s + (bias ? bias[row] : 0.f);
    }
  }
}

// Quantized weights against f32 activations (LLMR_CUDA_FLOAT_GEMV=1): each unit decoded to 32 f32
// values exactly as dequantize_row gives them, then f32 FMAs, so the only rounding is the f32 sum.
// Blocks of kFloatWarps warps loop over rows (a grid sized to the GPU, so x is staged once per
// block); a warp per row, lanes over units. SMEM: x [T][n] copied to shared memory with unit u's
// 16-byte chunk c stored at chunk c ^ (u & 7), so the eight lanes of a 128-bit load phase (units
// u..u+7) hit eight different bank groups; else x read from global through L1 (16-byte aligned).
// WORDS: q4_0 / q8_0 units read as aligned 32-bit words (as in the fused kernel).
constexpr int kFloatWarps = 8;
constexpr int kFloatThreads = 32 * kFloatWarps;
constexpr size_t kFloatMaxShared = 48 * 1024;  // the default dynamic shared memory limit

template <DType W, int TMAX, bool SMEM, bool WORDS>
__global__ void __launch_bounds__(kFloatThreads)
gemv_quant_f32_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t w_row_bytes, int64_t n_out,
                      int64_t n_in, const float* __restrict__ x, int64_t x_stride, int T,
                      const float* __restrict__ bias, float* __restrict__ y, int64_t y_stride) {
  extern __shared__ float4 xs4[];  // SMEM: [T][n_in / 4], swizzled within each unit
  const float* xs = reinterpret_cast<const float*>(xs4);
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int64_t units = n_in / 32;
  if constexpr (SMEM) {
    const int64_t first = int64_t(blockIdx.x) * kFloatWarps + warp;  // its first row on its way to L2 while x is staged
    if (first < n_out)
      for (int64_t off = int64_t(lane) * 128; off < w_row_bytes; off += 32 * 128)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(w + first * w_stride + off));
    float* xw = reinterpret_cast<float*>(xs4);
    for (int t = 0; t < T; ++t)
#pragma unroll 4
      for (int64_t k = threadIdx.x; k < n_in; k += kFloatThreads) {
        const int64_t u = k >> 5;
        const int c = int(k >> 2) & 7;
        xw[t * n_in + u * 32 + ((c ^ int(u & 7)) << 2) + (k & 3)] = x[t * x_stride + k];
      }
    __syncthreads();
  }
  for (int64_t row = int64_t(blockIdx.x) * kFloatWarps + warp; row < n_out; row += int64_t(gridDim.x) * kFloatWarps) {
    const uint8_t* wr = w + row * w_stride;
    float acc[TMAX];
#pragma unroll
    for (int t = 0; t < TMAX; ++t) acc[t] = 0.f;
    constexpr int kUnroll = W == DType::Q6_K ? 1 : 2;  // 32 decoded floats per unit in flight
#pragma unroll kUnroll
    for (int64_t u = lane; u < units; u += 32) {
      typename Unit<W>::Regs regs;
      if constexpr (WORDS) regs = Unit<W>::load_words(wr, u);
      else regs = Unit<W>::load(wr, u);
      float wf[32];
      Unit<W>::to_floats(regs, wf);
#pragma unroll
      for (int t = 0; t < TMAX; ++t) {
        if (t >= T) break;
#pragma unroll
        for (int c = 0; c < 8; ++c) {
          float4 a;
          if constexpr (SMEM) a = *reinterpret_cast<const float4*>(xs + t * n_in + u * 32 + ((c ^ int(u & 7)) << 2));
          else a = __ldg(reinterpret_cast<const float4*>(x + t * x_stride + u * 32) + c);
          acc[t] = fmaf(wf[4 * c], a.x, acc[t]);
          acc[t] = fmaf(wf[4 * c + 1], a.y, acc[t]);
          acc[t] = fmaf(wf[4 * c + 2], a.z, acc[t]);
          acc[t] = fmaf(wf[4 * c + 3], a.w, acc[t]);
        }
      }
    }
#pragma unroll
    for (int t = 0; t < TMAX; ++t) {
      if (t >= T) break;
      const float s = warp_sum(acc[t]);
      if (lane == 0) y[t * y_stride + row] = s + (bias ? bias[row] : 0.f);
    }
  }
}

// Plain types: 16-byte weight vectors against f32 activations read through L1 (x 16-byte aligned).
template <DType W, int TMAX>
__global__ void __launch_bounds__(kGemvThreads)
gemv_float_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t n_out, int64_t units,
                  const float* __restrict__ x, int64_t x_stride, int T, const float* __restrict__ bias,
                  float* __restrict__ y, int64_t y_stride) {
  constexpr int E = Unit<W>::kElems;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= n_out) return;
  const uint8_t* wr = w + row * w_stride;
  float acc[TMAX];
#pragma unroll
  for (int t = 0; t < TMAX; ++t) acc[t] = 0.f;
#pragma unroll 4
  for (int64_t u = lane; u < units; u += 32) {
    float wf[E];
    Unit<W>::to_floats(Unit<W>::load(wr, u), wf);
#pragma unroll
    for (int t = 0; t < TMAX; ++t) {
      if (t >= T) break;
      const float4* xv = reinterpret_cast<const float4*>(x + t * x_stride + u * E);
#pragma unroll
      for (int i = 0; i < E / 4; ++i) {
        const float4 a = __ldg(xv + i);
        acc[t] += wf[4 * i] * a.x + wf[4 * i + 1] * a.y + wf[4 * i + 2] * a.z + wf[4 * i + 3] * a.w;
      }
    }
  }
#pragma unroll
  for (int t = 0; t < TMAX; ++t) {
    if (t >= T) break;
    const float s = warp_sum(acc[t]);
    if (lane == 0) y[t * y_stride + row] = s + (bias ? bias[row] : 0.f);
  }
}

bool aligned16(const void* p, int64_t stride) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && stride % 16 == 0;
}

struct GemvArgs {
  const uint8_t* w;
  int64_t w_stride, n_out, n_in;
  const float* x;
  int64_t x_stride;
  int T;
  const float* bias;
  float* y;
  int64_t y_stride;
  cudaStream_t stream;
  int64_t w_row_bytes;
  PlainNormOut norm_out = {};  // the plain kernel only: a norm handoff's producer ...
  NormScale norm_scale = {};   // ... and consumer (norm_handoff.h)
  PlainSwiglu swiglu = {};     // the plain kernel only: a gate|up product's SwiGLU epilogue
};

template <DType W, int TMAX>
void launch_int8(const GemvArgs& a, const XBlock* xq) {
  const unsigned grid = unsigned((a.n_out + kWarpsPerBlock - 1) / kWarpsPerBlock);
  gemv_int8_kernel<W, TMAX><<<grid, kGemvThreads, 0, a.stream>>>(a.w, a.w_stride, a.n_out, a.n_in / 32, xq, a.T,
                                                                a.bias, a.y, a.y_stride);
  check_launch("matmul", "gemv_int8_kernel");
}

template <DType W, int TMAX, int RPW, bool WORDS>
void launch_fused_kernel(const GemvArgs& a, unsigned grid, size_t shared, int units) {
  gemv_int8_fused_kernel<W, TMAX, RPW, WORDS><<<grid, kFusedThreads, shared, a.stream>>>(
      a.w, a.w_stride, a.w_row_bytes, a.n_out, units, a.x, a.x_stride, a.T, a.bias, a.y, a.y_stride);
  check_launch("matmul", "gemv_int8_fused_kernel");
}

template <DType W, int TMAX, int RPW>
void launch_fused_rows(const GemvArgs& a, unsigned grid, size_t shared, int units) {
  constexpr bool kHasWords = W == DType::Q4_0 || W == DType::Q8_0;
  const bool words = units % 2 == 0 && reinterpret_cast<uintptr_t>(a.w) % 4 == 0 && a.w_stride % 4 == 0;
  if constexpr (kHasWords)
    if (words) return launch_fused_kernel<W, TMAX, RPW, true>(a, grid, shared, units);
  launch_fused_kernel<W, TMAX, RPW, false>(a, grid, shared, units);
}

template <DType W, int TMAX>
void launch_fused(const GemvArgs& a) {
  const int units = int(a.n_in / 32);
  const size_t shared = size_t(a.T) * size_t(units) * sizeof(XBlock);
  // two rows per warp once there are rows enough for four blocks per multiprocessor anyway (q6_k:
  // one, its unit's registers; and T <= 4 only: eight tokens' accumulators for two rows spill)
  constexpr bool kTwoAllowed = W != DType::Q6_K && TMAX <= 4;
  const bool two = kTwoAllowed && a.n_out >= int64_t(2 * kFusedWarps) * 132 * 4;
  const int rows_per_block = kFusedWarps * (two ? 2 : 1);
  const unsigned grid = unsigned((a.n_out + rows_per_block - 1) / rows_per_block);
  if constexpr (kTwoAllowed)
    if (two) return launch_fused_rows<W, TMAX, 2>(a, grid, shared, units);
  launch_fused_rows<W, TMAX, 1>(a, grid, shared, units);
}

template <DType W>
void dispatch_fused(const GemvArgs& a) {
  if (a.T == 1) return launch_fused<W, 1>(a);
  if (a.T == 2) return launch_fused<W, 2>(a);
  if (a.T <= 4) return launch_fused<W, 4>(a);
  return launch_fused<W, 8>(a);
}

template <DType W, int TMAX>
void launch_float(const GemvArgs& a) {
  const unsigned grid = unsigned((a.n_out + kWarpsPerBlock - 1) / kWarpsPerBlock);
  gemv_float_kernel<W, TMAX><<<grid, kGemvThreads, 0, a.stream>>>(
      a.w, a.w_stride, a.n_out, a.n_in / Unit<W>::kElems, a.x, a.x_stride, a.T, a.bias, a.y, a.y_stride);
  check_launch("matmul", "gemv_float_kernel");
}

template <DType W, int TMAX, bool SMEM, bool WORDS>
void launch_quant_f32_kernel(const GemvArgs& a, unsigned grid, size_t shared) {
  gemv_quant_f32_kernel<W, TMAX, SMEM, WORDS><<<grid, kFloatThreads, shared, a.stream>>>(
      a.w, a.w_stride, a.w_row_bytes, a.n_out, a.n_in, a.x, a.x_stride, a.T, a.bias, a.y, a.y_stride);
  check_launch("matmul", "gemv_quant_f32_kernel");
}

// x staged in shared memory when T x n_in floats fit, else read from global (16-byte aligned rows
// only). Returns false when neither applies: the caller takes the int8 path.
template <DType W, int TMAX>
bool launch_quant_f32(const GemvArgs& a) {
  const size_t shared = size_t(a.T) * size_t(a.n_in) * sizeof(float);
  const bool smem = shared <= kFloatMaxShared;
  if (!smem && !aligned16(a.x, a.x_stride * 4)) return false;
  const int64_t row_blocks = (a.n_out + kFloatWarps - 1) / kFloatWarps;
  // staged: at most 8 blocks per multiprocessor resident anyway (64 warps), each loops over rows
  const int64_t cap = smem ? int64_t(device_limits("matmul").multiprocessors) * (2048 / kFloatThreads) : row_blocks;
  const unsigned grid = unsigned(std::min(row_blocks, cap));
  constexpr bool kHasWords = W == DType::Q4_0 || W == DType::Q8_0;
  const bool words = (a.n_in / 32) % 2 == 0 && reinterpret_cast<uintptr_t>(a.w) % 4 == 0 && a.w_stride % 4 == 0;
  if constexpr (kHasWords)
    if (words) {
      if (smem) launch_quant_f32_kernel<W, TMAX, true, true>(a, grid, shared);
      else launch_quant_f32_kernel<W, TMAX, false, true>(a, grid, 0);
      return true;
    }
  if (smem) launch_quant_f32_kernel<W, TMAX, true, false>(a, grid, shared);
  else launch_quant_f32_kernel<W, TMAX, false, false>(a, grid, 0);
  return true;
}

template <DType W>
bool dispatch_quant_f32(const GemvArgs& a) {
  if (a.T == 1) return launch_quant_f32<W, 1>(a);
  if (a.T == 2) return launch_quant_f32<W, 2>(a);
  if (a.T <= 4) return launch_quant_f32<W, 4>(a);
  return launch_quant_f32<W, 8>(a);
}

// One instantiation per power of two of T: T = 5 runs the TMAX = 8 kernel with three idle slots.
template <DType W>
void dispatch_int8(const GemvArgs& a, const XBlock* xq) {
  if (a.T == 1) return launch_int8<W, 1>(a, xq);
  if (a.T == 2) return launch_int8<W, 2>(a, xq);
  if (a.T <= 4) return launch_int8<W, 4>(a, xq);
  return launch_int8<W, 8>(a, xq);
}

template <DType W>
void dispatch_float(const GemvArgs& a) {
  if (a.T == 1) return launch_float<W, 1>(a);
  if (a.T == 2) return launch_float<W, 2>(a);
  if (a.T <= 4) return launch_float<W, 4>(a);
  return launch_float<W, 8>(a);
}

// ---- the staged kernel (gemv_staged.cuh): the default for quantized weights in 16-byte aligned rows

// Activations staged in shared memory up to this size (XBlocks or f32); wider x takes XBlocks from
// global memory (int8) or the previous kernels (float).
constexpr size_t kStagedMaxX = 64 * 1024;
// Resident blocks per multiprocessor at most: each block stages x once, so fewer, fuller blocks
// keep the redundant activation reads low (two blocks of eight warps keep ~55 KB of weights in flight).
// LLMR_CUDA_GEMV_BLOCKS_PER_SM=N (1..8, read at every call) overrides it, for tuning runs.
constexpr int kStagedBlocksPerSm = 2;
int staged_blocks_per_sm() {
  const char* v = std::getenv("LLMR_CUDA_GEMV_BLOCKS_PER_SM");
  if (!v || !*v) return kStagedBlocksPerSm;
  const int n = std::atoi(v);
  return n >= 1 && n <= 8 ? n : kStagedBlocksPerSm;
}

// Per-launch host work kept to a map lookup (generation steps outside a graph launch hundreds of
// these per token): the device's limits, each kernel's shared-memory limit raised once per device,
// and its resident blocks per (device, shared memory bytes), all queried on first use.
struct StagedLaunchCache {
  std::mutex mutex;
  std::map<int, bool> raised;                   // device -> dynamic shared memory limit raised
  std::map<std::pair<int, size_t>, int> resident;  // (device, bytes) -> resident blocks per SM
};

template <DType W, int TMAX, staged::XMode XM>
void launch_staged_kernel(const GemvArgs& a, size_t x_smem, const XBlock* xq) {
  auto kernel = staged::gemv_staged_kernel<W, TMAX, XM>;
  using C = staged::Config<W, TMAX, XM>;
  const size_t smem = C::kStageBytes + x_smem;
  const DeviceLimits lim = device_limits("matmul");
  const int dev = lim.device;
  check(smem <= size_t(lim.smem_per_block_optin), "matmul: staged gemv needs " + std::to_string(smem) +
                                            " bytes of shared memory per block, the device allows " +
                                            std::to_string(lim.smem_per_block_optin));
  static StagedLaunchCache cache;  // one per kernel instantiation
  int resident = 0;
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (!cache.raised[dev]) {  // to the device's limit once (not a stream operation: fine during capture)
      check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, lim.smem_per_block_optin), "matmul",
                 "cudaFuncSetAttribute (staged gemv shared memory)");
      cache.raised[dev] = true;
    }
    auto it = cache.resident.find({dev, smem});
    if (it == cache.resident.end()) {
      check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, staged::kThreads, smem), "matmul",
                 "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
      it = cache.resident.emplace(std::make_pair(dev, smem), resident).first;
    }
    resident = it->second;
  }
  resident = std::max(1, std::min(resident, staged_blocks_per_sm()));
  constexpr int R = C::kRows;
  const int64_t groups = (a.n_out + R - 1) / R;
  const int64_t blocks = (groups + staged::kWarps - 1) / staged::kWarps;
  const unsigned grid = unsigned(std::min<int64_t>(blocks, int64_t(lim.multiprocessors) * resident));
  const bool x_vec4 = reinterpret_cast<uintptr_t>(a.x) % 16 == 0 && a.x_stride % 4 == 0;
  kernel<<<grid, staged::kThreads, smem, a.stream>>>(a.w, a.w_stride, a.w_row_bytes, a.n_out, int(a.n_in / 32), a.x,
                                                     a.x_stride, x_vec4, xq, a.T, a.bias, a.y, a.y_stride);
  check_launch("matmul", "gemv_staged_kernel");
}

template <DType W, staged::XMode XM>
void dispatch_staged_t(const GemvArgs& a, size_t x_smem, const XBlock* xq) {
  if (a.T == 1) return launch_staged_kernel<W, 1, XM>(a, x_smem, xq);
  if (a.T == 2) return launch_staged_kernel<W, 2, XM>(a, x_smem, xq);
  if (a.T <= 4) return launch_staged_kernel<W, 4, XM>(a, x_smem, xq);
  return launch_staged_kernel<W, 8, XM>(a, x_smem, xq);
}

template <DType W>
bool launch_staged(const GemvArgs& a, bool float_x) {
  const int64_t units = a.n_in / 32;
  if (float_x) {
    const size_t x_smem = size_t(a.T) * size_t(a.n_in + units) * sizeof(float);  // x and its unit sums
    if (x_smem > kStagedMaxX + size_t(a.T) * size_t(units) * sizeof(float)) return false;
    dispatch_staged_t<W, staged::XMode::Float>(a, x_smem, nullptr);
    return true;
  }
  const size_t x_smem = size_t(a.T) * size_t(units) * sizeof(XBlock);
  if (x_smem <= kStagedMaxX) {
    dispatch_staged_t<W, staged::XMode::Int8Shared>(a, x_smem, nullptr);
    return true;
  }
  StreamScratch xq(size_t(a.T) * size_t(units) * sizeof(XBlock), a.stream, "matmul");
  const int64_t n_blocks = a.T * units;
  quantize_x_kernel<<<unsigned((n_blocks * 32 + 255) / 256), 256, 0, a.stream>>>(a.x, a.x_stride, a.n_in, a.T,
                                                                                xq.as<XBlock>());
  check_launch("matmul", "quantize_x_kernel");
  dispatch_staged_t<W, staged::XMode::Int8Global>(a, 0, xq.as<XBlock>());
  return true;
}

// The staged kernel when the rows allow it (16-byte aligned start and stride; n_in within int).
// Returns false otherwise: the caller takes the previous kernels.
bool staged_gemv(const GemvArgs& a, DType type, bool float_x) {
  if (reinterpret_cast<uintptr_t>(a.w) % 16 || a.w_stride % 16 || a.n_in > (int64_t(1) << 30)) return false;
  switch (type) {
    case DType::Q8_0: return launch_staged<DType::Q8_0>(a, float_x);
    case DType::Q4_0: return launch_staged<DType::Q4_0>(a, float_x);
    case DType::Q4_1: return launch_staged<DType::Q4_1>(a, float_x);
    case DType::Q4_K: return launch_staged<DType::Q4_K>(a, float_x);
    case DType::Q5_K: return launch_staged<DType::Q5_K>(a, float_x);
    case DType::Q6_K: return launch_staged<DType::Q6_K>(a, float_x);
    case DType::Q4_0C: return launch_staged<DType::Q4_0C>(a, float_x);
    case DType::Q4_KC: return launch_staged<DType::Q4_KC>(a, float_x);
    default: return false;
  }
}

// ---- plain types (gemv_plain.cuh)

// A plain GEMV whose grid is one wave lets the kernel after it launch as soon as its blocks have
// waited, as the integer GEMV's small grids do: F16 tg128 233.2 -> 235.2 on the H200, two rounds
// (docs/measurements/2026-11-29-h200-19/). LLMR_CUDA_PLAIN_EARLY_RELEASE=0 (read at every call): at exit.
bool plain_early_release_requested() { return switch_on("LLMR_CUDA_PLAIN_EARLY_RELEASE"); }

// One-wave grids of rows longer than one pass of four loads a lane (the o and down products at T <= 2)
// keep two passes in flight (gemv_plain.cuh's PIPE); LLMR_CUDA_PLAIN_PIPELINE=0 (read at every call)
// turns it off. On the H200, f16 4096 x 14336 alone 40.5 -> 31.3 us; in the F16 step the products
// were already overlapped with their neighbours (with the SwiGLU epilogue: 238.7 / 239.3 -> 239.9 / 239.9).
bool plain_pipeline_requested() { return switch_on("LLMR_CUDA_PLAIN_PIPELINE"); }

template <DType W, int TMAX, int V, bool PIPE = false>
int plain_resident_blocks();

template <DType W, int TMAX, int V, bool PIPE = false>
void launch_plain_vecs(const GemvArgs& a, bool accumulate, const XregRope& rope) {
  const unsigned grid = unsigned((a.n_out + plain::kWarps - 1) / plain::kWarps);
  const bool early_release = plain_early_release_requested() &&
                             int64_t(grid) <= int64_t(device_limits("matmul").multiprocessors) *
                                                  plain_resident_blocks<W, TMAX, V, PIPE>();
  PlainNormOut norm_out = a.norm_out;
  norm_out.y_before_wait = norm_handoff_y_before_wait();
  timeline::write_marks_at_exit("");
  share_small_carveout(reinterpret_cast<const void*>(plain::gemv_plain_kernel<W, TMAX, V, PIPE>), plain::kThreads, 0);
  launch_pdl(plain::gemv_plain_kernel<W, TMAX, V, PIPE>, dim3(grid), dim3(plain::kThreads), 0, a.stream, "matmul",
             "gemv_plain_kernel", a.w, a.w_stride, a.n_out, a.n_in / Unit<W>::kElems, a.x, a.x_stride, a.T, a.bias,
             a.y, a.y_stride, accumulate, rope, early_release, norm_out, a.norm_scale, a.swiglu);
}

// LLMR_CUDA_PLAIN_VECS=4|8|16 (read at every call) sets the vector loads in flight per lane at T <= 2,
// for tuning runs.
int plain_vecs_override() {
  const char* v = std::getenv("LLMR_CUDA_PLAIN_VECS");
  const int n = v && *v ? std::atoi(v) : 0;
  return n == 4 || n == 8 || n == 16 ? n : 0;
}

// Blocks of a kernel of kThreads one multiprocessor holds, asked once per kernel.
template <auto Kernel>
int resident_blocks_of() {
  static const int n = [] {
    int blocks = 0;
    check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, Kernel, plain::kThreads, 0), "matmul",
               "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    return std::max(blocks, 1);
  }();
  return n;
}

template <DType W, int TMAX, int V, bool PIPE>
int plain_resident_blocks() {
  return resident_blocks_of<plain::gemv_plain_kernel<W, TMAX, V, PIPE>>();
}

// One token's products of many rows (more than two waves of four-load blocks: F16's gate|up and
// output head) stream their rows through one wave of warps (gemv_plain_stream.cuh) where nothing but a
// bias, a handed-over norm or a SwiGLU epilogue asks for more. Eight loads a lane a pass (119
// registers, two blocks a multiprocessor) against four (76, three): F16 tg128 on the H200 240.4 ->
// 245.0 / 245.9, four 242.1 / 242.1 (docs/measurements/2026-11-30-h200-24/). LLMR_CUDA_PLAIN_STREAM=0
// (read at every call) turns it off, LLMR_CUDA_PLAIN_STREAM_VECS=4 takes four (tuning).
std::atomic<uint64_t> plain_stream_launches{0};

template <DType W, int V>
bool launch_plain_stream(const GemvArgs& a, bool accumulate, const XregRope& rope) {
  const int64_t vecs = a.n_in / Unit<W>::kElems;
  if (a.T != 1 || accumulate || rope.positions || a.norm_out.g || vecs == 0 || vecs % (32 * V) != 0) return false;
  if (a.swiglu.out && a.n_out % 2 != 0) return false;
  const int64_t items = a.swiglu.out ? a.n_out / 2 : a.n_out;
  const int64_t wave = int64_t(device_limits("matmul").multiprocessors) *
                       resident_blocks_of<plain::gemv_plain_stream_kernel<W, V>>();
  const unsigned grid = unsigned(std::min<int64_t>(wave, (items + plain::kWarps - 1) / plain::kWarps));
  timeline::write_marks_at_exit("");
  // The last, partial round of items spread over the blocks (gemv_plain_stream.cuh): multiprocessors
  // carried 104 or 112 of F16 gate|up's items and ended 3 us apart; F16 tg128 on the H200 245.0 / 244.8
  // / 245.3 -> 246.2 / 246.3 / 245.7 (docs/measurements/2026-11-30-h200-26/). LLMR_CUDA_PLAIN_STREAM_SPREAD=0
  // (read at every call): the first blocks take it.
  const bool spread_last_round = switch_on("LLMR_CUDA_PLAIN_STREAM_SPREAD");
  // The last one to two rounds claimed (gemv_plain_stream.cuh), from products of three rounds or more
  // (a warp's first two passes, before the wait, then stay in dealt items): F16's gate|up ran 58.4 ->
  // 57.0 us, tg128 on the H200 with one carveout for all (pdl.cu) 246.5 / 247.3 -> 247.4 / 248.1
  // (docs/measurements/2026-11-30-h200-27/, f5, f6). LLMR_CUDA_PLAIN_STREAM_CLAIMS=0 (read at every
  // call): every item dealt.
  plain::StreamClaims claims;
  if (items >= 3 * int64_t(grid) * plain::kWarps && switch_on("LLMR_CUDA_PLAIN_STREAM_CLAIMS")) {
    using plain::StreamClaims;
    claims.groups = StreamClaims::kMaxGroups;  // the most that divides the grid
    while (grid % unsigned(claims.groups) != 0) claims.groups /= 2;
    claims.counters = static_cast<unsigned*>(stream_arena_zeroed(
        a.stream, ArenaSlot::StreamClaims, 2 * StreamClaims::kMaxGroups * StreamClaims::kLine * sizeof(unsigned),
        "matmul"));
  }
  share_small_carveout(reinterpret_cast<const void*>(plain::gemv_plain_stream_kernel<W, V>), plain::kThreads, 0);
  launch_pdl(plain::gemv_plain_stream_kernel<W, V>, dim3(grid), dim3(plain::kThreads), 0, a.stream, "matmul",
             "gemv_plain_stream_kernel", a.w, a.w_stride, a.n_out, vecs, a.x, a.bias, a.y, a.norm_scale, a.swiglu,
             spread_last_round, claims);
  ++plain_stream_launches;
  return true;
}

template <DType W>
bool plain_stream(const GemvArgs& a, bool accumulate, const XregRope& rope) {
  if (!switch_on("LLMR_CUDA_PLAIN_STREAM")) return false;
  const char* v = std::getenv("LLMR_CUDA_PLAIN_STREAM_VECS");
  if (v && std::strcmp(v, "4") == 0) return launch_plain_stream<W, 4>(a, accumulate, rope);
  return launch_plain_stream<W, 8>(a, accumulate, rope);
}

// Vector loads in flight per lane at T <= 2: four (39 registers at f16, T = 1: six blocks a
// multiprocessor) where that grid runs in at most two waves, so a product's rows are all in flight at
// once rather than in two waves of 16-load blocks (two a multiprocessor); sixteen for the long
// products, which run many waves either way. On the H200 (tools/cuda_gemv_bench, f16): 6144 x 4096
// 17.1 -> 14.9 us, 4096 x 14336 38.8 -> 32.9, but 28672 x 4096 56.9 vs 57.8; the F16 Llama-3-8B step
// 208 -> 222 tokens/s with four loads everywhere (docs/measurements/2026-11-29-h200-12/).
template <DType W, int TMAX>
void launch_plain(const GemvArgs& a, bool accumulate, const XregRope& rope) {
  if constexpr (TMAX <= 2) {
    const int v = plain_vecs_override();
    if (v == 4) return launch_plain_vecs<W, TMAX, 4>(a, accumulate, rope);
    if (v == 8) return launch_plain_vecs<W, TMAX, 8>(a, accumulate, rope);
    const int64_t blocks = (a.n_out + plain::kWarps - 1) / plain::kWarps;
    const int64_t sms = device_limits("matmul").multiprocessors;
    const int64_t wave = sms * plain_resident_blocks<W, TMAX, 4>();
    if (v == 0 && plain_pipeline_requested() && a.n_in / Unit<W>::kElems > 32 * 4 &&
        blocks <= sms * plain_resident_blocks<W, TMAX, 4, true>())
      return launch_plain_vecs<W, TMAX, 4, true>(a, accumulate, rope);
    if (v == 0 && blocks <= 2 * wave) return launch_plain_vecs<W, TMAX, 4>(a, accumulate, rope);
    if (v == 0 && plain_stream<W>(a, accumulate, rope)) return;
  }
  launch_plain_vecs<W, TMAX, plain::kVecs<TMAX>>(a, accumulate, rope);
}

template <DType W>
void dispatch_plain(const GemvArgs& a, bool accumulate, const XregRope& rope) {
  if (a.T == 1) return launch_plain<W, 1>(a, accumulate, rope);
  if (a.T == 2) return launch_plain<W, 2>(a, accumulate, rope);
  if (a.T <= 4) return launch_plain<W, 4>(a, accumulate, rope);
  return launch_plain<W, 8>(a, accumulate, rope);
}

bool plain_gemv_fits(const GemvArgs& a, DType type) {
  const int64_t elems = type == DType::F32 ? 4 : 8;
  return (type == DType::F32 || type == DType::F16 || type == DType::BF16) && a.n_in % elems == 0 &&
         aligned16(a.w, a.w_stride) && aligned16(a.x, a.x_stride * 4);
}

// The plain-type kernel where the rows allow it (plain_gemv_fits: 16-byte aligned weights and x,
// whole vectors); false, with nothing launched, otherwise.
bool plain_gemv(const GemvArgs& a, DType type, bool accumulate, const XregRope& rope = {}) {
  if (!plain_gemv_fits(a, type)) return false;
  switch (type) {
    case DType::F32: dispatch_plain<DType::F32>(a, accumulate, rope); return true;
    case DType::F16: dispatch_plain<DType::F16>(a, accumulate, rope); return true;
    case DType::BF16: dispatch_plain<DType::BF16>(a, accumulate, rope); return true;
    default: return false;
  }
}

}  // namespace

uint64_t plain_streams() { return plain_stream_launches; }

void quantize_x(const float* x, int64_t x_stride, int64_t n, int64_t T, XBlock* out, cudaStream_t stream) {
  const int64_t n_blocks = T * (n / 32);
  if (n_blocks == 0) return;
  launch_pdl(quantize_x_kernel, dim3(unsigned((n_blocks * 32 + 255) / 256)), dim3(256), 0, stream, "matmul",
             "quantize_x_kernel", x, x_stride, n, T, out);
}

bool float_gemv_requested() {
  const char* v = std::getenv("LLMR_CUDA_FLOAT_GEMV");
  return v && *v && std::strcmp(v, "0") != 0;
}

// Unset or "0": int8 activations (the CPU backend's arithmetic too); on the H200 the staged int8
// kernel measured 1.0-1.8x faster than the f32-activation one on every Llama-3-8B shape
// (docs/measurements/2026-11-29-h200-5). Any other value: f32 activations (no int8 rounding of x).
bool use_float_gemv(const GemvArgs&) {
  if (old_kernels_requested()) return false;
  return float_gemv_requested();
}

namespace {

// The register-held-activation kernel (gemv_xreg.h) where it applies and int8 activations are
// wanted; LLMR_CUDA_XREG=0 (read at every call) turns it off. Returns false, with nothing launched,
// otherwise. quantize(out) launches the kernel that writes the XBlocks [T][units] from which the
// activations come (or returns false: it does not apply). A residual product whose shape can hand a
// norm on is held, not launched (norm_handoff.h).
struct XregExtras {
  XregRope rope = {};
  NormScale norm_scale = {};                           // a norm handed over by the held product
  ArenaSlot activations = ArenaSlot::GemvActivations;  // where the XBlocks go
  bool hold_for_swiglu = false;  // a gate|up product that fits is held for its SwiGLU-quantize epilogue
};

bool xreg_wanted(const GemvArgs& a, DType type) {
  if (!switch_on("LLMR_CUDA_XREG") || old_kernels_requested() || use_float_gemv(a)) return false;
  const int64_t units = a.n_in / 32;
  return units <= INT32_MAX && xreg_applies(type, a.T, int(units), a.w, a.w_stride);
}

template <typename Quantize>
bool xreg_gemv(const GemvArgs& a, DType type, bool accumulate, Quantize&& quantize, const XregExtras& extras = {}) {
  if (!xreg_wanted(a, type)) return false;
  const int64_t units = a.n_in / 32;
  SlotScratch xq(size_t(a.T) * size_t(units) * sizeof(XBlock), a.stream, extras.activations, "matmul");
  if (!quantize(xq.as<XBlock>())) return false;
  XregArgs args{a.w, a.w_stride, a.n_out, int(units), xq.as<XBlock>(), a.T, a.bias, a.y, a.y_stride,
                accumulate, a.stream, extras.rope};
  args.norm_scale = extras.norm_scale;
  const XregShape shape = xreg_shape(type, a.n_out, int(units), a.T);
  if (extras.hold_for_swiglu && xreg_swiglu_fits(type, args)) {
    HeldProduct held{type, args, shape, {}, {}};
    held.gate_up = true;
    hold_residual_product(held);
    return true;
  }
  if (accumulate && !args.rope.positions && norm_handoff_enabled() && xreg_norm_out_applies(type, shape, a.n_out)) {
    hold_residual_product(HeldProduct{type, args, shape, {}, {}});
    return true;
  }
  return launch_xreg(type, args, shape);
}

// x quantized as it is (quantize_x_kernel)
bool xreg_gemv(const GemvArgs& a, DType type, bool accumulate) {
  return xreg_gemv(a, type, accumulate, [&](XBlock* out) {
    quantize_x(a.x, a.x_stride, a.n_in, a.T, out, a.stream);
    return true;
  });
}

GemvArgs gemv_args(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream) {
  return GemvArgs{static_cast<const uint8_t*>(w.data), w.stride[0], w.shape[0], w.shape[1],
                  static_cast<const float*>(x.data), x.stride[0] / 4, int(x.shape[0]),
                  bias ? static_cast<const float*>(bias->data) : nullptr, static_cast<float*>(y.data),
                  y.stride[0] / 4, stream, int64_t(row_bytes(w.type, w.shape[1]))};
}

}  // namespace

namespace {

// A plain product to hold: what the holder reads of its args (y, T, n_out, y_stride, stream) and its
// launch once its epilogue is known (plain: a norm handoff's producer; gated: a SwiGLU epilogue).
HeldProduct held_plain_product(const GemvArgs& a, DType type, std::function<void(const PlainNormOut&)> plain,
                               std::function<void(const PlainSwiglu&)> gated) {
  HeldProduct held{type, {}, {}, std::move(plain), std::move(gated)};
  held.args.y = a.y, held.args.T = a.T, held.args.n_out = a.n_out, held.args.y_stride = a.y_stride;
  held.args.stream = a.stream;
  return held;
}

// y += x w^T by the plain kernel, held for a norm handoff (norm_handoff.h) where its shape allows one:
// T <= 2, whole blocks of rows.
bool plain_gemv_accumulate(const GemvArgs& a, DType type) {
  if (a.T > kXregMaxTokens || a.n_out % plain::kWarps || !norm_handoff_enabled() || !plain_gemv_fits(a, type))
    return plain_gemv(a, type, true);
  hold_residual_product(held_plain_product(a, type, [a, type](const PlainNormOut& norm_out) {
    GemvArgs with = a;
    with.norm_out = norm_out;
    check(plain_gemv(with, type, true), "matmul: a held plain product no longer fits");
  }, {}));
  return true;
}

}  // namespace

bool gemv_accumulate(const Tensor& x, const Tensor& w, const Tensor& y, cudaStream_t stream) {
  const int64_t T = x.shape[0];
  if (T < 1 || w.shape[0] == 0) return false;
  const GemvArgs a = gemv_args(x, w, nullptr, y, stream);
  if (!uses_xblocks(w.type))
    return T <= kGemvMaxTokens && !old_kernels_requested() && plain_gemv_accumulate(a, w.type);
  return T <= kXregMaxTokens && xreg_gemv(a, w.type, true);
}

bool gemv_plain_rope_fits(const Tensor& h, const Tensor& w, const Tensor& y) {
  const int64_t T = h.shape[0];
  return T >= 1 && T <= kXregMaxTokens && !uses_xblocks(w.type) && !old_kernels_requested() && w.shape[0] > 0 &&
         w.shape[0] % plain::kWarps == 0 && plain_gemv_fits(gemv_args(h, w, nullptr, y, nullptr), w.type);
}

void gemv_plain_rope(const Tensor& h, const Tensor& w, const Tensor& y, const XregRope& rope, cudaStream_t stream) {
  check(gemv_plain_rope_fits(h, w, y) && rope.positions, "matmul: the plain GEMV's rope epilogue does not fit");
  plain_gemv(gemv_args(h, w, nullptr, y, stream), w.type, false, rope);
}

bool gemv_swiglu_accumulate(const Tensor& gate, const Tensor& up, const Tensor& w, const Tensor& y, cudaStream_t stream) {
  const int64_t T = gate.shape[0];
  if (T < 1 || T > kXregMaxTokens || !uses_xblocks(w.type) || w.shape[0] == 0) return false;
  const GemvArgs a = gemv_args(gate, w, nullptr, y, stream);
  if (!xreg_wanted(a, w.type)) return false;
  // An integer gate|up product held for this forms the activations in its epilogue; any other held
  // product is launched as it is (a plain gate|up one writing gate and up).
  std::optional<HeldProduct> held = take_held_gate_up(stream, static_cast<const float*>(gate.data),
                                                      static_cast<const float*>(up.data), int(T), gate.shape[1],
                                                      gate.stride[0] / 4);
  if (held && !held->gate_up) {
    launch_held(*held);
    held.reset();
  }
  const bool done = xreg_gemv(a, w.type, true, [&](XBlock* out) {
    if (held) {
      launch_held_gate_up_xblocks(*held, out);
      return true;
    }
    const int64_t units = a.n_in / 32;
    launch_pdl(quantize_swiglu_kernel, dim3(unsigned((a.T * units * 32 + 255) / 256)), dim3(256), 0, a.stream, "matmul",
               "quantize_swiglu_kernel", a.x, a.x_stride, static_cast<const float*>(up.data), up.stride[0] / 4, a.n_in,
               int64_t(a.T), out);
    return true;
  });
  if (!done && held) launch_held(*held);  // the caller's fallback reads gate and up: written as they are
  return done;
}

bool gemv_plain_swiglu(const Tensor& gate, const Tensor& up, const Tensor& out, cudaStream_t stream) {
  const int64_t T = gate.shape[0], half = gate.shape[1];
  std::optional<HeldProduct> held =
      take_held_gate_up(stream, static_cast<const float*>(gate.data), static_cast<const float*>(up.data), int(T), half,
                        gate.stride[0] / 4);
  if (!held) return false;
  if (held->gate_up) {  // an integer one, for a down product the plain kernel takes: as it is
    launch_held(*held);
    return false;
  }
  launch_held_gate_up(*held, PlainSwiglu{static_cast<float*>(out.data), out.stride[0] / 4});
  return true;
}

bool gemv_accumulate_xblocks(const Tensor& w, int64_t T, const Tensor& y, cudaStream_t stream,
                             const std::function<bool(XBlock*)>& quantize) {
  if (T < 1 || T > kXregMaxTokens || !uses_xblocks(w.type) || w.shape[0] == 0) return false;
  GemvArgs a = gemv_args(y, w, nullptr, y, stream);  // x: only its row count is read (quantize makes it)
  a.x = nullptr, a.x_stride = 0, a.T = int(T);
  return xreg_gemv(a, w.type, true, quantize);
}

namespace {

// y = W rms_norm(x) from a held product that writes x (norm_handoff.h): that product launched with the
// norm's epilogue as this one's quantize step, then this one scaled by 1/rms. Nothing is held after.
bool gemv_norm_handoff(HeldProduct& held, const Tensor& x, const Tensor& norm_w, float eps, const GemvArgs& a,
                       DType type, const XregRope& rope) {
  bool producer_launched = false;
  auto launch_producer = [&](const XregNormOut& norm_out) {
    held.args.norm_out = norm_out;
    producer_launched = true;
    launch_held(held);
  };
  const int slot = norm_sums_next_slot(a.stream);
  const NormSums sums = next_norm_sums(a.stream);
  // Perhaps a stacked gate|up product: held for a swiglu_matmul_add of its halves (gemv_swiglu_accumulate).
  XregExtras extras{rope, NormScale{sums.sum, int(x.shape[1]), eps}, ArenaSlot::NormedActivations,
                    !rope.positions && xreg_swiglu_requested()};
  const bool done = xreg_gemv(a, type, false, [&](XBlock* out) {
    launch_producer(XregNormOut{static_cast<const float*>(norm_w.data), out, sums.sum, sums.clear});
    return true;
  }, extras);
  if (!producer_launched) {  // x must hold the product before the caller's fallback; the sums unused
    restore_norm_sums_slot(a.stream, slot);
    launch_producer({});
  }
  return done;
}

// A plain product taking a handed-over norm is held, in case a swiglu_matmul_add of its two halves
// follows (gemv_plain_swiglu: no swiglu kernel a layer); LLMR_CUDA_PLAIN_SWIGLU=0 (read at every call)
// turns it off.
bool plain_swiglu_requested() { return switch_on("LLMR_CUDA_PLAIN_SWIGLU"); }

// y = W rms_norm(x) by the plain kernel from a held plain product that writes x: that product makes
// x * g as floats and the sums of squares, this one scales its sums by 1/rms. False, with the held
// product launched as it is, where the plain kernel does not take these rows.
bool plain_norm_handoff(const HeldProduct& held, const Tensor& x, const Tensor& norm_w, float eps, const Tensor& w,
                        const Tensor& y, cudaStream_t stream, const XregRope& rope) {
  const int64_t T = x.shape[0], n = x.shape[1];
  SlotScratch act(size_t(T) * size_t(n) * sizeof(float), stream, ArenaSlot::NormedActivations, "matmul");
  GemvArgs a = gemv_args(x, w, nullptr, y, stream);
  a.x = act.as<float>(), a.x_stride = n;
  if (!plain_gemv_fits(a, w.type) || (rope.positions && a.n_out % plain::kWarps)) {
    launch_held(held);
    return false;
  }
  const NormSums sums = next_norm_sums(stream);
  launch_held(held, PlainNormOut{static_cast<const float*>(norm_w.data), act.as<float>(), sums.sum, sums.clear});
  a.norm_scale = NormScale{sums.sum, int(n), eps};
  if (!rope.positions && !a.bias && plain_swiglu_requested() && a.n_out % plain::kWarps == 0) {
    // Perhaps a stacked gate|up product: held for a swiglu_matmul_add of its two halves (PlainSwiglu).
    const DType type = w.type;
    hold_residual_product(held_plain_product(a, type, {}, [a, type](const PlainSwiglu& swiglu) {
      GemvArgs with = a;
      with.swiglu = swiglu;
      check(plain_gemv(with, type, false), "matmul: a held plain product no longer fits");
    }));
    return true;
  }
  return plain_gemv(a, w.type, false, rope);
}

}  // namespace

bool gemv_rms_norm(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& w, const Tensor& y,
                   cudaStream_t stream, const XregRope& rope) {
  const int64_t T = x.shape[0];
  // A product held for a norm handoff: taken if it writes x, else launched now (the stream's order).
  std::optional<HeldProduct> held = take_held_product(stream, static_cast<const float*>(x.data), int(T),
                                                      x.shape[1], x.stride[0] / 4);
  if (held && held->plain) {  // plain weights: the handoff, or the caller's norm kernel and product
    if (T <= kXregMaxTokens && w.shape[0] > 0 && !uses_xblocks(w.type) && !old_kernels_requested())
      return plain_norm_handoff(*held, x, norm_w, eps, w, y, stream, rope);
    launch_held(*held);
    return false;
  }
  if (!switch_on("LLMR_CUDA_NORM_QUANT") || T < 1 || T > kXregMaxTokens || !uses_xblocks(w.type) ||
      w.shape[0] == 0 ||
      (rope.positions && xreg_shape(w.type, w.shape[0], int(w.shape[1] / 32), int(T)).rows_per_warp != 2)) {
    if (held) launch_held(*held);
    return false;
  }
  const GemvArgs a = gemv_args(x, w, nullptr, y, stream);
  if (held) return gemv_norm_handoff(*held, x, norm_w, eps, a, w.type, rope);
  return xreg_gemv(
      a, w.type, false, [&](XBlock* out) { return rms_norm_quantize(x, norm_w, eps, out, stream); },
      XregExtras{rope});
}

bool gemv(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream) {
  const int64_t T = x.shape[0];
  check(T >= 1 && T <= kGemvMaxTokens, "matmul: gemv takes 1.." + std::to_string(kGemvMaxTokens) + " rows");
  GemvArgs a = gemv_args(x, w, bias, y, stream);
  if (a.n_out == 0) return true;
  if (uses_xblocks(w.type)) {
    const int64_t need = weight_row_alignment(w.type);
    if (reinterpret_cast<uintptr_t>(w.data) % need || w.stride[0] % need) return false;
    const int64_t n_blocks = T * (a.n_in / 32);
    if (xreg_gemv(a, w.type, false)) return true;
    if (!old_kernels_requested() && !fused_gemv_requested() && staged_gemv(a, w.type, use_float_gemv(a))) return true;
    if (use_float_gemv(a)) {
      bool done = false;
      switch (w.type) {
        case DType::Q8_0: done = dispatch_quant_f32<DType::Q8_0>(a); break;
        case DType::Q4_0: done = dispatch_quant_f32<DType::Q4_0>(a); break;
        case DType::Q4_1: done = dispatch_quant_f32<DType::Q4_1>(a); break;
        case DType::Q4_K: done = dispatch_quant_f32<DType::Q4_K>(a); break;
        case DType::Q5_K: done = dispatch_quant_f32<DType::Q5_K>(a); break;
        case DType::Q6_K: done = dispatch_quant_f32<DType::Q6_K>(a); break;
        default: break;
      }
      if (done) return true;
    }
    if (fused_gemv_requested() && !old_kernels_requested() && size_t(n_blocks) * sizeof(XBlock) <= kFusedMaxShared &&
        a.n_in / 32 <= INT32_MAX) {
      switch (w.type) {
        case DType::Q8_0: dispatch_fused<DType::Q8_0>(a); return true;
        case DType::Q4_0: dispatch_fused<DType::Q4_0>(a); return true;
        case DType::Q4_1: dispatch_fused<DType::Q4_1>(a); return true;
        case DType::Q4_K: dispatch_fused<DType::Q4_K>(a); return true;
        case DType::Q5_K: dispatch_fused<DType::Q5_K>(a); return true;
        case DType::Q6_K: dispatch_fused<DType::Q6_K>(a); return true;
        default: break;
      }
    }
    StreamScratch xq(size_t(n_blocks) * sizeof(XBlock), stream, "matmul");
    const unsigned grid = unsigned((n_blocks * 32 + 255) / 256);
    quantize_x_kernel<<<grid, 256, 0, stream>>>(a.x, a.x_stride, a.n_in, T, xq.as<XBlock>());
    check_launch("matmul", "quantize_x_kernel");
    switch (w.type) {
      case DType::Q8_0: dispatch_int8<DType::Q8_0>(a, xq.as<XBlock>()); break;
      case DType::Q4_0: dispatch_int8<DType::Q4_0>(a, xq.as<XBlock>()); break;
      case DType::Q4_1: dispatch_int8<DType::Q4_1>(a, xq.as<XBlock>()); break;
      case DType::Q4_K: dispatch_int8<DType::Q4_K>(a, xq.as<XBlock>()); break;
      case DType::Q5_K: dispatch_int8<DType::Q5_K>(a, xq.as<XBlock>()); break;
      case DType::Q6_K: dispatch_int8<DType::Q6_K>(a, xq.as<XBlock>()); break;
      case DType::Q4_0C: dispatch_int8<DType::Q4_0C>(a, xq.as<XBlock>()); break;
      case DType::Q4_KC: dispatch_int8<DType::Q4_KC>(a, xq.as<XBlock>()); break;
      default: throw Error("matmul: no gemv kernel for " + std::string(name(w.type)));
    }
    return true;
  }
  if (!old_kernels_requested()) return plain_gemv(a, w.type, false);
  const int64_t elems = w.type == DType::F32 ? 4 : 8;
  if (a.n_in % elems || !aligned16(w.data, w.stride[0]) || !aligned16(x.data, x.stride[0])) return false;
  switch (w.type) {
    case DType::F32: dispatch_float<DType::F32>(a); break;
    case DType::F16: dispatch_float<DType::F16>(a); break;
    case DType::BF16: dispatch_float<DType::BF16>(a); break;
    default: throw Error("matmul: no gemv kernel for " + std::string(name(w.type)));
  }
  return true;
}

}  // namespace llmr::cuda_ops
