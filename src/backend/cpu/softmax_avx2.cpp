// Softmax kernels compiled for AVX2.
#include "backend/cpu/softmax_kernel.h"
#include "backend/cpu/simd_vec_avx2.h"

namespace llmr::cpu {
const SoftmaxKernels& softmax_kernels_avx2() {
  static const SoftmaxKernels k = make_softmax_kernels<VecAvx2>();
  return k;
}
}  // namespace llmr::cpu
