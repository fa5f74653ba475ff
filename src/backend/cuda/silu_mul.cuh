#pragma once
// SwiGLU's value for one gate and up pair, the one formula the swiglu op and the fused epilogues share
// (so a fused path gives the same bits as swiglu after the product).
#include <cuda_runtime.h>

namespace llmr::cuda_ops {

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.f + expf(-g)) * u; }

}  // namespace llmr::cuda_ops
