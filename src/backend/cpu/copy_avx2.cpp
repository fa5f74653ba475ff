// Copy kernels compiled for AVX2.
#include "backend/cpu/copy_kernel.h"
#include "backend/cpu/simd_vec_avx2.h"

namespace llmr::cpu {
const CopyKernels& copy_kernels_avx2() {
  static const CopyKernels k = make_copy_kernels<VecAvx2>();
  return k;
}
}  // namespace llmr::cpu
