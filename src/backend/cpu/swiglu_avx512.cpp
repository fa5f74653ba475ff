// Swiglu kernels compiled for AVX-512.
#include "backend/cpu/swiglu_kernel.h"
#include "backend/cpu/simd_vec_avx512.h"

namespace llmr::cpu {
const SwigluKernels& swiglu_kernels_avx512() {
  static const SwigluKernels k = make_swiglu_kernels<VecAvx512>();
  return k;
}
}  // namespace llmr::cpu
