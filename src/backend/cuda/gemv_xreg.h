#pragma once
// The register-held-activation GEMV (gemv_xreg.cu) for q4_0, q8_0, q4_k and the regrouped q4_0c /
// q4_kc (tensor/unit_records.h) weights at T <= 2:
// x quantized once to XBlocks in global memory, each warp holds a 32-unit chunk of them in
// registers and streams R weight rows against it through a ring of D chunks (the first loaded
// before waiting for the kernel before), KS warps of a block splitting a row group's
// chunks (partial sums added in a fixed order: deterministic). Or (depth 0, q4_kc's grids of more
// than one wave) a warp's two whole rows copied to shared memory before that wait, all their bytes in
// flight. Launched as a programmatic dependent of the kernel before it (quantize_x), so its first
// weight loads overlap that kernel's tail. A residual product can hand the next product its normalized
// activations (XregNormOut / NormScale, norm_handoff.h).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/norm_handoff_args.h"
#include "backend/cuda/xblock.h"
#include "tensor/dtype.h"

namespace llmr::cuda_ops {

constexpr int kXregMaxTokens = 2;

// A stacked q|k|v product's epilogue (rms_norm_matmul_rope_store_kv): rows [0, kv_begin) are q,
// [kv_begin, v_begin) k, the rest v. A warp's two rows are a rotation pair of the interleaved rope
// layout, rotated as rope_store_kv rotates them; k and v rows also go to the token's cache row.
struct XregRope {
  const int32_t* positions = nullptr;  // [T] on the device; null: no rope epilogue
  const float* inv_freq = nullptr;     // [half] on the device
  char *k_cache = nullptr, *v_cache = nullptr;
  int64_t kc_stride = 0, vc_stride = 0, cache_rows = 0;  // bytes; rows
  int64_t kv_begin = 0, v_begin = 0;
  int head_dim = 0, half = 0;
  bool cache_f16 = false;  // else f32
};

// A norm handed from a residual product to the next product (norm_handoff.h, norm_handoff_args.h),
// producer side: the block's 32 rows of the updated y (its grid: 32 rows a block) times g, quantized to
// xq[t][block], and their squares added into sum[t]; its block 0 zeroes clear[t]. g null: no handoff.
struct XregNormOut {
  const float* g = nullptr;   // [n_out]
  XBlock* xq = nullptr;       // [T][n_out / 32]
  double* sum = nullptr;      // [T]
  double* clear = nullptr;    // [kNormSumTokens]
  // Read the rows of y this grid adds into before waiting for the kernel before (set by launch_xreg):
  // a residual product's x comes from that kernel, its y from an earlier one (the residual product
  // before, or the embedding), finished before that kernel let this one launch.
  bool y_before_wait = false;
};

struct XregArgs {
  const uint8_t* w;
  int64_t w_stride, n_out;
  int units;  // n_in / 32
  const XBlock* xq;  // [T][units]
  int T;
  const float* bias;  // [n_out] or null
  float* y;
  int64_t y_stride;  // floats
  bool accumulate;  // y += result instead of y = result
  cudaStream_t stream;
  XregRope rope = {};
  XregNormOut norm_out = {};      // requires accumulate, n_out % 32 == 0, two rows a warp, a k-split of 1 or 2
  NormScale norm_scale = {};
};

struct XregShape {
  int rows_per_warp;  // R: 2 or 4
  int k_split;        // KS: 1, 2, 4 or 8 warps per row group
  int depth;          // D: a ring of 1, 2 or 4 chunks of weights (rows of 4: 1); 0: whole rows in shared memory
};

// The longest regrouped row (in units) the shared-memory shape (depth 0: two rows a warp, no k-split) takes.
constexpr int kXregSharedMaxUnits = 128;
// Whether the shared-memory shape takes rows of `units`: whole 8-unit records, at most kXregSharedMaxUnits.
bool xreg_shared_fits(int units);

// Whether the kernel takes this type, T and row alignment.
bool xreg_applies(DType type, int T, int units, const void* w, int64_t w_stride);
// The shape the dispatcher picks for these sizes (enough warps to fill the GPU, x reused over rows).
XregShape xreg_shape(DType type, int64_t n_out, int units, int T);
// Launches the kernel (xreg_applies must hold); false for a shape with no instantiation (depth 0:
// regrouped types, rows that xreg_shared_fits, no k-split), and for a rope epilogue without two rows a
// warp or with an odd n_out, kv_begin, v_begin or head_dim.
bool launch_xreg(DType type, const XregArgs& a, const XregShape& s);
// Whether launch_xreg takes a norm_out (handoff producer) for this type and shape.
bool xreg_norm_out_applies(DType type, const XregShape& s, int64_t n_out);

// A stacked gate|up product (y = [gate | up], n_out = 2 half) with SwiGLU and its quantization in the
// epilogue (gemv_xreg_swiglu.cu): XBlocks out[T][half / 32] of silu(gate) * up, bit for bit those of
// the product, the swiglu op and quantize_swiglu; y is not written. Fits: q4_0c weights, T = 1, half
// a multiple of 32, no bias, rope, norm_out or accumulate (a norm_scale may be set). (q4_kc, whose
// records decode into more registers, measured slower so: 580 against 606 t/s.)
bool xreg_swiglu_fits(DType type, const XregArgs& a);
void launch_xreg_swiglu(DType type, const XregArgs& a, XBlock* out);
// LLMR_CUDA_XREG_SWIGLU=0 (read at every call) turns the epilogue off.
bool xreg_swiglu_requested();

// x [T, n] f32 (row stride x_stride floats) -> XBlocks [T][n / 32] on `stream`.
void quantize_x(const float* x, int64_t x_stride, int64_t n, int64_t T, XBlock* out, cudaStream_t stream);

}  // namespace llmr::cuda_ops
