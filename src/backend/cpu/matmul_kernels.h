#pragma once
// Internals of the CPU matmul, shared by its per-level kernel files and by the tests, which call
// every level directly (scalar, AVX2, AVX-512) on one machine.
#include <cstdint>

#include "backend/cpu/thread_pool.h"
#include "tensor/tensor.h"

namespace llmr::cpu {

// Activations quantized to 8 bits, 32 at a time: x[i] ~ d * qs[i] with |qs| <= 127.
// s0, s1 = d * (sum of qs over each half): the offset terms of q4_0/q4_1/k-quant weights need them;
// s = s0 + s1 for kernels whose offsets are per 32.
struct ActBlock {
  float d;
  float s0, s1;
  float s;
  int8_t qs[32];
};
static_assert(sizeof(ActBlock) == 48);

// Quantizes n floats (a multiple of 32) into n / 32 blocks; round to nearest, ties to even.
void quantize_activations(const float* x, ActBlock* out, int64_t n);
// The same, with AVX-512 (identical results); only where the processor has it.
void quantize_activations_avx512(const float* x, ActBlock* out, int64_t n);

// Each token's activations: nb = n / 32 ActBlocks, then as arrays (so that vector kernels load
// several at once) its blocks' d (nb floats), s (nb floats) and -128 * (sum of qs) (nb int32: the
// q8_0 panel dots unsigned levels + 128); act_stride_blocks(nb) ActBlocks in all (4 floats of slack:
// a 4-wide load at a row's last partial group stays inside).
constexpr int64_t act_stride_blocks(int64_t nb) {
  return nb + (int64_t(sizeof(float)) * (3 * nb + 4) + int64_t(sizeof(ActBlock)) - 1) / int64_t(sizeof(ActBlock));
}
inline float* act_heads(ActBlock* token, int64_t nb) { return reinterpret_cast<float*>(token + nb); }
inline const float* act_heads(const ActBlock* token, int64_t nb) { return reinterpret_cast<const float*>(token + nb); }

constexpr int kTokenTile = 4;  // tokens that share one decode of each weight block

// out[t] = dot(weight row, token t) for t < nt <= kTokenTile over n elements. act points at token
// 0's data: ActBlocks (laid out as above) for quantized weights, floats otherwise; act_stride is in
// those units.
using RowDotFn = void (*)(const void* wrow, const void* act, int64_t act_stride, int nt, int64_t n,
                          float* out);

// AVX-512 kernel for many tokens at once: y[t][r] = dot(row r, token t) + bias[r] for rows r < rows
// (<= 16) starting at w, every token t < T; y points at token 0's row r = 0 (y_stride in floats),
// bias at row 0's bias or null. Each row is decoded once for all T tokens.
using PanelFn = void (*)(const void* w, size_t w_row_bytes, int rows, const ActBlock* act,
                         int64_t act_stride, int64_t T, int64_t n, float* y, int64_t y_stride,
                         const float* bias);
constexpr int kPanelRows = 16;
PanelFn panel_avx512(DType type);  // nullptr for types the row kernels serve
// One token (x: its ActBlocks and heads) against count <= 4 groups of 16 Q8_0R rows read side by side:
// y[j][r] = dot(group j's row r, x) + bias[j][r] (bias[j] may be null), in the panels' float order.
void q8r_gemv_avx512(const void* const* groups, int count, const ActBlock* x, int64_t n, float* const* y,
                     const float* const* bias);
// The same for groups of 16 Q4_0R rows (tensor/q4_0_repack.h) and of 16 Q4_KR rows (tensor/q4_k_repack.h).
void q4r_gemv_avx512(const void* const* groups, int count, const ActBlock* x, int64_t n, float* const* y,
                     const float* const* bias);
void q4kr_gemv_avx512(const void* const* groups, int count, const ActBlock* x, int64_t n, float* const* y,
                      const float* const* bias);

enum class Level { Scalar, Avx2, Avx512 };
const char* level_name(Level level);
Level best_level();  // from cpu_features(), so LLMR_CPU_LEVEL caps it

// True when `type`'s kernels take 8-bit ActBlocks rather than floats.
bool uses_int8_activations(DType type);

// The kernel for a weight type at a level, or nullptr when that level has none for the type.
RowDotFn row_dot_scalar(DType type);
RowDotFn row_dot_avx2(DType type);
RowDotFn row_dot_avx512(DType type);

// y = x w^T + bias with the kernels of `level` (which this processor must support); arguments
// already checked. pool may be null (single-threaded).
void matmul_at_level(Level level, const Tensor& x, const Tensor& w, const Tensor* bias,
                     const Tensor& y, ThreadPool* pool);

}  // namespace llmr::cpu
