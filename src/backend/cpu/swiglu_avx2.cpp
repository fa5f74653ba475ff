// Swiglu kernels compiled for AVX2.
#include "backend/cpu/swiglu_kernel.h"
#include "backend/cpu/simd_vec_avx2.h"

namespace llmr::cpu {
const SwigluKernels& swiglu_kernels_avx2() {
  static const SwigluKernels k = make_swiglu_kernels<VecAvx2>();
  return k;
}
}  // namespace llmr::cpu
