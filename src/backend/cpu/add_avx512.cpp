// Add kernels compiled for AVX-512.
#include "backend/cpu/add_kernel.h"
#include "backend/cpu/simd_vec_avx512.h"

namespace llmr::cpu {
const AddKernels& add_kernels_avx512() {
  static const AddKernels k = make_add_kernels<VecAvx512>();
  return k;
}
}  // namespace llmr::cpu
