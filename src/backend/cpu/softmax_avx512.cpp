// Softmax kernels compiled for AVX-512.
#include "backend/cpu/softmax_kernel.h"
#include "backend/cpu/simd_vec_avx512.h"

namespace llmr::cpu {
const SoftmaxKernels& softmax_kernels_avx512() {
  static const SoftmaxKernels k = make_softmax_kernels<VecAvx512>();
  return k;
}
}  // namespace llmr::cpu
