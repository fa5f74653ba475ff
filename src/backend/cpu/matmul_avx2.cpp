// The AVX2 + FMA matmul kernels (see matmul_simd.inc).
#define LLMR_SIMD_NS avx2
#include "backend/cpu/matmul_simd.inc"

namespace llmr::cpu {
RowDotFn row_dot_avx2(DType type) { return avx2::row_dot(type); }
}  // namespace llmr::cpu
