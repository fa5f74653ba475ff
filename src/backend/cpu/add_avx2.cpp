// Add kernels compiled for AVX2.
#include "backend/cpu/add_kernel.h"
#include "backend/cpu/simd_vec_avx2.h"

namespace llmr::cpu {
const AddKernels& add_kernels_avx2() {
  static const AddKernels k = make_add_kernels<VecAvx2>();
  return k;
}
}  // namespace llmr::cpu
