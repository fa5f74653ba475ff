#pragma once
// Pieces the register-held-activation GEMVs share (gemv_xreg.cu, gemv_xreg_swiglu.cu): a unit of
// weights and a block of activations into registers, a warp's sum, and a kernel's blocks a
// multiprocessor.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernel_status.h"
#include "backend/cuda/quant_device.cuh"
#include "backend/cuda/xblock.h"
#include "tensor/dtype.h"

namespace llmr::cuda_ops {

// The layouts of tensor/unit_records.h: one 16-byte load a unit.
constexpr bool xreg_regrouped(DType W) { return W == DType::Q4_0C || W == DType::Q4_KC; }

template <DType W>
__device__ __forceinline__ typename Unit<W>::Regs load_unit(const uint8_t* row, int u) {
  if constexpr (W == DType::Q4_K) return Unit<W>::load16(row, u);
  else if constexpr (xreg_regrouped(W)) return Unit<W>::load(row, u);
  else return Unit<W>::load_words(row, u);
}

// An XBlock into registers: three 16-byte loads.
__device__ __forceinline__ XBlock load_xblock(const XBlock* p) {
  XBlock x;
  const int4* s = reinterpret_cast<const int4*>(p);
  int4* d = reinterpret_cast<int4*>(&x);
  d[0] = __ldg(s), d[1] = __ldg(s + 1), d[2] = __ldg(s + 2);
  return x;
}

template <typename F>
__device__ __forceinline__ F warp_sum(F v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

// Blocks of `kernel` (THREADS a block) one multiprocessor holds (its registers decide), asked once.
template <auto kernel, int THREADS>
int resident_blocks() {
  static const int n = [] {
    int blocks = 0;
    check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, THREADS, 0), "matmul",
               "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    return blocks > 0 ? blocks : 1;
  }();
  return n;
}

}  // namespace llmr::cuda_ops
