// RMSNorm kernels compiled for AVX-512.
#include "backend/cpu/rms_norm_kernel.h"
#include "backend/cpu/simd_vec_avx512.h"

namespace llmr::cpu {
const RmsNormKernels& rms_norm_kernels_avx512() {
  static const RmsNormKernels k = make_rms_norm_kernels<VecAvx512>();
  return k;
}
}  // namespace llmr::cpu
