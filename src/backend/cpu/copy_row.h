#pragma once
// One row of copy / store_rows on the CPU: the level's conversion kernels for f32/f16/bf16, and q8_0
// (the KV cache) through f32 with the reference quantizer, so every backend stores the same blocks.
#include <cstdint>
#include <vector>

#include "backend/cpu/simd_kernels.h"

namespace llmr::cpu {

// dst[0..n) = src[0..n) converted; scratch holds n floats when either side is q8_0.
void copy_row(const CopyKernels& kernels, DType src_type, DType dst_type, const void* src, void* dst, int64_t n,
              std::vector<float>& scratch);

}  // namespace llmr::cpu
