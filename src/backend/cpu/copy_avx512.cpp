// Copy kernels compiled for AVX-512.
#include "backend/cpu/copy_kernel.h"
#include "backend/cpu/simd_vec_avx512.h"

namespace llmr::cpu {
const CopyKernels& copy_kernels_avx512() {
  static const CopyKernels k = make_copy_kernels<VecAvx512>();
  return k;
}
}  // namespace llmr::cpu
