// The AVX-512 matmul kernels: VNNI 8-bit dots, 512-bit float FMA (see matmul_simd.inc).
#define LLMR_SIMD_NS avx512
#define LLMR_SIMD_AVX512 1
// GCC 12 warns falsely inside its own AVX-512 headers (_mm512_undefined_* in reductions).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "backend/cpu/matmul_simd.inc"

namespace llmr::cpu {
RowDotFn row_dot_avx512(DType type) { return avx512::row_dot(type); }
PanelFn panel_avx512(DType type) { return avx512::panel(type); }
void q8r_gemv_avx512(const void* const* groups, int count, const ActBlock* x, int64_t n, float* const* y,
                     const float* const* bias) {
  avx512::q8r_gemv(groups, count, x, n, y, bias);
}
void q4r_gemv_avx512(const void* const* groups, int count, const ActBlock* x, int64_t n, float* const* y,
                     const float* const* bias) {
  avx512::q4r_gemv(groups, count, x, n, y, bias);
}
void q4kr_gemv_avx512(const void* const* groups, int count, const ActBlock* x, int64_t n, float* const* y,
                      const float* const* bias) {
  avx512::q4kr_gemv(groups, count, x, n, y, bias);
}
void quantize_activations_avx512(const float* x, ActBlock* out, int64_t n) { avx512::quantize(x, out, n); }
}  // namespace llmr::cpu
