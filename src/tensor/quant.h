#pragma once
// Reference conversion between f32 and every weight type, one row at a time, bit-compatible with
// llama.cpp's block layouts (ggml-common.h). Plain types (f32, f16, bf16) are handled too.
#include <cstdint>

#include "tensor/dtype.h"

namespace llmr {

// dst[0..n) = the values stored in a row of n elements of `type` at src.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// Stores src[0..n) as a row of `type` at dst (row_bytes(type, n) bytes); n a multiple of the block.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

}  // namespace llmr
