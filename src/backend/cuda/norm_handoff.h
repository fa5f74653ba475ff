#pragma once
// The norm handoff: a residual product (y += W x, the o and down projections at generation) is held
// back until the next op. If that op normalizes the same rows for its own product (rms_norm_matmul:
// the next layer's q|k|v, gate|up, the output head), the held product is launched with an epilogue
// that makes that product's activations (gemv_xreg.h's XregNormOut: y * g quantized a block of 32
// rows at a time; plain weights, f16 and f32, norm_handoff_args.h's PlainNormOut: y * g as floats) and
// adds the squares of the rows into one sum a token, and the next product applies 1/rms from that sum
// (NormScale): the norm's own kernel and its boundary are gone. RMSNorm is a scale of the row, so
// W (g * y / rms) = (W (g * y)) / rms. Any other op launches the held product first, unchanged
// (CudaBackend::stream()). LLMR_CUDA_NORM_HANDOFF=0 (read at every call) holds nothing.
// The sums live in two slots a stream: each producer adds into one and zeroes the other, which the
// producer after it takes (that slot's readers are done by then: stream order), so they need no other
// clearing; a recorded graph notes the slot it began and ended with (replay_norm_sums).
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <optional>

#include "backend/cuda/gemv_xreg.h"
#include "backend/cuda/norm_handoff_args.h"
#include "tensor/dtype.h"

namespace llmr::cuda_ops {

// A held product: an int8-activation one (type, args, shape), or, where `plain` is set, a plain-weight
// one that `plain` launches (args then gives only the rows it writes: y, T, n_out, y_stride).
struct HeldProduct {
  DType type;
  XregArgs args;
  XregShape shape;
  std::function<void(const PlainNormOut&)> plain;
  // Or a plain stacked gate|up product (y = [gate | up]) that `gated` launches, with a SwiGLU epilogue
  // or (out null) as it is: held for the swiglu_matmul_add after it (take_held_gate_up).
  std::function<void(const PlainSwiglu&)> gated;
  // Or an integer one (type, args, shape), held for the same: launch_held_gate_up_xblocks with its
  // SwiGLU-quantize epilogue, or launch_held as it is.
  bool gate_up = false;
};

// Whether a held product waits for a swiglu_matmul_add of its halves (no residual product then).
inline bool held_for_swiglu(const HeldProduct& p) { return bool(p.gated) || p.gate_up; }

// Whether residual products may be held: the switch, and the stream arena (held products read its slots).
bool norm_handoff_enabled();
// Whether a producer reads the rows of y it adds into before its wait (gemv_xreg.h's XregNormOut,
// PlainNormOut): LLMR_CUDA_Y_BEFORE_WAIT=0 (read at every call) reads them after the loop.
bool norm_handoff_y_before_wait();

// Holds this product's launch on its stream (one at most: a held one is launched first).
void hold_residual_product(const HeldProduct& p);

// Launches a product taken off its stream (with whatever norm_out its args now carry; a plain one
// with `plain_out`).
void launch_held(const HeldProduct& p, const PlainNormOut& plain_out = {});

// The sum slots for the stream's next plain producer (PlainNormOut's sum and clear, kXregMaxTokens
// doubles each); each call flips the two.
struct NormSums {
  double* sum;
  double* clear;
};
NormSums next_norm_sums(cudaStream_t stream);

// The slot the stream's next plain producer adds into (0 or 1): a recording notes it before and after.
int norm_sums_next_slot(cudaStream_t stream);

// The next slot back to `slot` when nothing that took slots since has run: an ended recording (its
// kernels not yet replayed), a handoff whose producer was not launched.
void restore_norm_sums_slot(cudaStream_t stream, int slot);

// Before a replay of work recorded with the next slot `before` and leaving it `after`: zeroes slot
// `before` if the stream's next slot is the other (so it may hold sums), and then takes `after`.
void replay_norm_sums(cudaStream_t stream, int before, int after);

// Both slots zeroed and slot 0 next: after a recording's kernels ran alone or some left out (timings).
void reset_norm_sums(cudaStream_t stream);

// Launches the stream's held product, if any, as it is (every op but the norm's, before its own work).
void release_held_product(cudaStream_t stream);

// The stream's held residual product, taken off the stream, if it writes exactly these rows (y, T rows
// of n_out floats at y_stride; not a gate|up product held for its SwiGLU epilogue); otherwise the held
// product, if any, is launched as it is and nullopt returned.
std::optional<HeldProduct> take_held_product(cudaStream_t stream, const float* y, int T, int64_t n_out,
                                             int64_t y_stride);

// The stream's held gate|up product, taken off the stream, if gate and up are its two halves (T rows
// of `half` floats at `stride`); otherwise the held product, if any, is launched and nullopt returned.
std::optional<HeldProduct> take_held_gate_up(cudaStream_t stream, const float* gate, const float* up, int T,
                                             int64_t half, int64_t stride);

// Launches a taken gate|up product with its SwiGLU epilogue into `out` (a plain one), or with its
// SwiGLU-quantize epilogue into the down product's activations (an integer one: XBlocks [T][half / 32]).
void launch_held_gate_up(const HeldProduct& p, const PlainSwiglu& out);
void launch_held_gate_up_xblocks(const HeldProduct& p, XBlock* out);

// Gate|up products launched with the SwiGLU epilogue, on every stream since the start (for tests).
uint64_t swiglu_epilogues();

// Forgets the stream's held product without launching it (an aborted capture, a stream going away).
void drop_held_product(cudaStream_t stream);

// Products launched with a norm_out, on every stream since the start (for tests).
uint64_t norm_handoffs();

}  // namespace llmr::cuda_ops
