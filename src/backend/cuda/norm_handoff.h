#pragma once
// The norm handoff: a residual product (y += W x, the o and down projections at generation) is held
// back until the next op. If that op normalizes the same rows for its own product (rms_norm_matmul:
// the next layer's q|k|v, gate|up, the output head), the held product is launched with an epilogue
// that makes that product's activations (gemv_xreg.h's XregNormOut: y * g quantized a block of 32
// rows at a time, and each block's sum of squares), and the next product applies 1/rms from those sums
// (XregNormScale): the norm's own kernel and its boundary are gone. RMSNorm is a scale of the row, so
// W (g * y / rms) = (W (g * y)) / rms. Any other op launches the held product first, unchanged
// (CudaBackend::stream()). LLMR_CUDA_NORM_HANDOFF=0 (read at every call) holds nothing.
#include <cuda_runtime.h>

#include <cstdint>
#include <optional>

#include "backend/cuda/gemv_xreg.h"
#include "tensor/dtype.h"

namespace llmr::cuda_ops {

struct HeldProduct {
  DType type;
  XregArgs args;
  XregShape shape;
};

// Whether residual products may be held: the switch, and the stream arena (held products read its slots).
bool norm_handoff_enabled();

// Holds this product's launch on its stream (one at most: a held one is launched first).
void hold_residual_product(DType type, const XregArgs& args, const XregShape& shape);

// Launches a product taken off its stream (with whatever norm_out its args now carry).
void launch_held(const HeldProduct& p);

// Launches the stream's held product, if any, as it is (every op but the norm's, before its own work).
void release_held_product(cudaStream_t stream);

// The stream's held product, taken off the stream, if it writes exactly these rows (y, T rows of n_out
// floats at y_stride); otherwise the held product, if any, is launched as it is and nullopt returned.
std::optional<HeldProduct> take_held_product(cudaStream_t stream, const float* y, int T, int64_t n_out,
                                             int64_t y_stride);

// Forgets the stream's held product without launching it (an aborted capture, a stream going away).
void drop_held_product(cudaStream_t stream);

// Products launched with a norm_out, on every stream since the start (for tests).
uint64_t norm_handoffs();

}  // namespace llmr::cuda_ops
