// Rope kernels compiled for AVX2.
#include "backend/cpu/rope_kernel.h"
#include "backend/cpu/simd_vec_avx2.h"

namespace llmr::cpu {
const RopeKernels& rope_kernels_avx2() {
  static const RopeKernels k = make_rope_kernels<VecAvx2>();
  return k;
}
}  // namespace llmr::cpu
