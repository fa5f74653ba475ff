// A stacked gate|up product of q4_0c weights (one token) with SwiGLU and its quantization in the
// epilogue (gemv_xreg.h, launch_xreg_swiglu): block b takes gate rows 32b .. 32b + 31 and the same up
// rows, so it makes the down product's XBlock b by itself (no counter, no fence, no kernel after).
// Warp w takes the block's pairs 4w .. 4w + 3 one after another, gate row and up row side by side as
// the register-held kernel's two rows, through one ring over all its (pair, chunk) items, so the next
// pair's first units are in flight while a pair ends. Its sums are those of the register-held kernel
// (same chunk order, same warp sum, the same 1/rms scale) and silu_mul is the swiglu op's, so the
// XBlocks are bit for bit those of that product (k-split 1), the swiglu and quantize_swiglu. The grid
// (half / 32 blocks: 448 for Llama-3-8B) is one wave of equal blocks, where the product alone took 3.4
// waves of short ones.

#include "backend/cuda/device_limits.h"
#include "backend/cuda/gemv_xreg.h"
#include "backend/cuda/gemv_xreg_device.cuh"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quantize_xblock.cuh"
#include "backend/cuda/silu_mul.cuh"
#include "tensor/unit_records.h"

namespace llmr::cuda_ops {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
constexpr int kPairs = 32 / kWarps;  // a warp's pairs: a block's 32 make one XBlock

// Registers: the ring holds two items ahead of the one in use (one ahead, 48 registers, measured 10%
// slower in the model: too few bytes in flight for one wave).
template <DType W, int TMAX>
__global__ void __launch_bounds__(kThreads, 4)
gemv_xreg_swiglu_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t half, int units,
                        const XBlock* __restrict__ xq, int T, NormScale norm_scale, XBlock* __restrict__ out,
                        bool release_early) {
  static_assert(W == DType::Q4_0C, "chunks of 32 units are 576 bytes of 144-byte records");
  using Regs = typename Unit<W>::Regs;
  constexpr int64_t kChunkBytes = 32 / kUnitRecordUnits * kUnitRecordBytes;
  constexpr int kAhead = 2;
  __shared__ float h[TMAX][32];  // the block's silu(gate) * up, pair by pair
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int64_t j0 = int64_t(blockIdx.x) * 32 + warp * kPairs;
  const int chunks = (units + 31) / 32;
  const int items = kPairs * chunks;  // (pair, chunk), chunk fastest
  // An item's (pair, chunk) is stepped, not divided out of its index: a division by the runtime
  // chunk count costs ~20 instructions, and this loop's issue slots were 60% busy.
  struct Pos {
    const uint8_t* gate;  // the pair's gate row
    int pair, chunk;
  };
  auto step = [&](Pos& p) {
    if (++p.chunk == chunks) p.chunk = 0, ++p.pair, p.gate += w_stride;
  };
  const int64_t up_offset = half * w_stride;  // an up row after its gate row
  auto load_item = [&](Regs (&slot)[2], const Pos& p) {
    if (p.chunk * 32 + lane < units) {
      const uint8_t* gate = p.gate + p.chunk * kChunkBytes;  // the chunk's units from `lane` on
      slot[0] = load_unit<W>(gate, lane);
      slot[1] = load_unit<W>(gate + up_offset, lane);
    }
  };
  const Pos first{w + j0 * w_stride, 0, 0};
  Regs ring[kAhead][2];
  Pos next = first;  // the next item to load
#pragma unroll
  for (int d = 0; d < kAhead; ++d)
    if (d < items) load_item(ring[d], next), step(next);
  pdl_wait();  // the weights above do not depend on the kernel before; the activations and sums do
  if (release_early) pdl_release();
  float inv[TMAX];  // 1/rms of the handed-over norm, as the register-held kernel takes it
#pragma unroll
  for (int t = 0; t < TMAX; ++t) {
    const double ss = norm_scale.sum && t < T ? __ldcg(norm_scale.sum + t) : 0.0;
    inv[t] = norm_scale.sum ? float(1.0 / sqrt(ss / double(norm_scale.n) + double(norm_scale.eps))) : 1.f;
  }
  float acc[2][TMAX];
#pragma unroll
  for (int r = 0; r < 2; ++r)
#pragma unroll
    for (int t = 0; t < TMAX; ++t) acc[r][t] = 0.f;
  Pos now = first;  // the item in use
  for (int item = 0; item < items; item += kAhead) {
#pragma unroll
    for (int d = 0; d < kAhead; ++d) {
      const int it = item + d;
      if (it >= items) break;  // warp-uniform
      Regs cur[2] = {ring[d][0], ring[d][1]};
      if (it + kAhead < items) load_item(ring[d], next), step(next);  // refilled before use: three in flight
      const int u = now.chunk * 32 + lane;
      if (u < units) {
        XBlock xr[TMAX];
#pragma unroll
        for (int t = 0; t < TMAX; ++t)
          if (t < T) xr[t] = load_xblock(xq + int64_t(t) * units + u);
#pragma unroll
        for (int r = 0; r < 2; ++r)
#pragma unroll
          for (int t = 0; t < TMAX; ++t)
            if (t < T) acc[r][t] += Unit<W>::dot(cur[r], &xr[t]);
      }
      if (now.chunk == chunks - 1) {  // the pair's last chunk (warp-uniform)
#pragma unroll
        for (int t = 0; t < TMAX; ++t) {
          const float g = warp_sum(acc[0][t]) * inv[t], up = warp_sum(acc[1][t]) * inv[t];
          if (lane == 0) h[t][warp * kPairs + now.pair] = silu_mul(g, up);
          acc[0][t] = acc[1][t] = 0.f;
        }
      }
      step(now);
    }
  }
  __syncthreads();
  if (warp < T) quantize_block(h[warp][lane], lane, out[int64_t(warp) * gridDim.x + blockIdx.x]);
}

template <auto kernel>
void launch(const XregArgs& a, XBlock* out) {
  const int64_t half = a.n_out / 2, blocks = half / 32;
  // One wave lets the down product launch now (its blocks take multiprocessors as this one's leave).
  const int64_t wave = int64_t(device_limits("matmul").multiprocessors) * resident_blocks<kernel, kThreads>();
  launch_pdl(kernel, dim3(unsigned(blocks)), dim3(kThreads), 0, a.stream, "matmul", "gemv_xreg_swiglu_kernel", a.w,
             a.w_stride, half, a.units, a.xq, a.T, a.norm_scale, out, blocks <= wave);
}

}  // namespace

bool xreg_swiglu_requested() { return switch_on("LLMR_CUDA_XREG_SWIGLU"); }

bool xreg_swiglu_fits(DType type, const XregArgs& a) {
  return type == DType::Q4_0C && a.T == 1 && a.n_out > 0 && a.n_out % 64 == 0 &&
         !a.bias && !a.accumulate && !a.rope.positions && !a.norm_out.g && a.units > 0 && a.units % 8 == 0;
}

void launch_xreg_swiglu(DType type, const XregArgs& a, XBlock* out) {
  check(xreg_swiglu_fits(type, a), "matmul: the gate|up product's SwiGLU epilogue does not fit");
  launch<gemv_xreg_swiglu_kernel<DType::Q4_0C, 1>>(a, out);
}

}  // namespace llmr::cuda_ops
