#pragma once
// RMSNorm straight into the integer GEMV's activations (rms_norm.cu): one pass over each row, the
// normalized values quantized to XBlocks in registers, never stored as f32. Bit for bit what
// rms_norm then quantize_x give.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/xblock.h"
#include "tensor/tensor.h"

namespace llmr::cuda_ops {

// x [rows, n] f32, w [n] f32 -> out [rows][n / 32]. False, with nothing launched, when the rows do
// not allow it (n a multiple of 32 and at most 16384, 16-byte aligned rows and w).
bool rms_norm_quantize(const Tensor& x, const Tensor& w, float eps, XBlock* out, cudaStream_t stream);

}  // namespace llmr::cuda_ops
