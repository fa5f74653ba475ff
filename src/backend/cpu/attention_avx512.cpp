// Attention kernels compiled for AVX-512.
#include "backend/cpu/attention_kernel.h"
#include "backend/cpu/simd_vec_avx512.h"

namespace llmr::cpu {
const AttentionKernels& attention_kernels_avx512() {
  static const AttentionKernels k = make_attention_kernels<VecAvx512>();
  return k;
}
}  // namespace llmr::cpu
