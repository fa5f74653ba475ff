#pragma once
// Per-type row converters behind dequantize_row / quantize_row; n is a whole number of blocks.
#include <cstdint>

namespace llmr::quant {

void dequantize_q8_0(const void* src, float* dst, int64_t n);
void dequantize_q4_0(const void* src, float* dst, int64_t n);
void dequantize_q4_1(const void* src, float* dst, int64_t n);
void dequantize_q4_k(const void* src, float* dst, int64_t n);
void dequantize_q5_k(const void* src, float* dst, int64_t n);
void dequantize_q6_k(const void* src, float* dst, int64_t n);

void quantize_q8_0(const float* src, void* dst, int64_t n);
void quantize_q4_0(const float* src, void* dst, int64_t n);
void quantize_q4_1(const float* src, void* dst, int64_t n);
void quantize_q4_k(const float* src, void* dst, int64_t n);
void quantize_q5_k(const float* src, void* dst, int64_t n);
void quantize_q6_k(const float* src, void* dst, int64_t n);

// Stores a q4_k super-block's 8 sub-block scales and mins (>= 0) as its 6-bit packed scales, d and
// dmin; eff_d/eff_m receive the values the block then decodes to (for rounding its levels).
struct BlockQ4_K;
void pack_q4_k_scales(BlockQ4_K& b, const float* scales, const float* mins, float* eff_d, float* eff_m);

}  // namespace llmr::quant
