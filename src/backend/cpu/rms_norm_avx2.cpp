// RMSNorm kernels compiled for AVX2.
#include "backend/cpu/rms_norm_kernel.h"
#include "backend/cpu/simd_vec_avx2.h"

namespace llmr::cpu {
const RmsNormKernels& rms_norm_kernels_avx2() {
  static const RmsNormKernels k = make_rms_norm_kernels<VecAvx2>();
  return k;
}
}  // namespace llmr::cpu
