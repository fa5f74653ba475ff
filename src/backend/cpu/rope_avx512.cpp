// Rope kernels compiled for AVX-512.
#include "backend/cpu/rope_kernel.h"
#include "backend/cpu/simd_vec_avx512.h"

namespace llmr::cpu {
const RopeKernels& rope_kernels_avx512() {
  static const RopeKernels k = make_rope_kernels<VecAvx512>();
  return k;
}
}  // namespace llmr::cpu
