// Attention kernels compiled for AVX2.
#include "backend/cpu/attention_kernel.h"
#include "backend/cpu/simd_vec_avx2.h"

namespace llmr::cpu {
const AttentionKernels& attention_kernels_avx2() {
  static const AttentionKernels k = make_attention_kernels<VecAvx2>();
  return k;
}
}  // namespace llmr::cpu
