#pragma once
// The CUDA matmul and attention, as functions of device tensors and a stream, so CudaBackend's
// methods stay thin: they validate (matmul_checks.h / op_checks.h) and call these.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <span>

#include "backend/cuda/gemv_xreg.h"
#include "backend/cuda/xblock.h"
#include "ops/backend.h"
#include "tensor/tensor.h"

namespace llmr::cuda_ops {

// Largest T that takes the matrix-vector kernels (weights read once for all T rows); larger T
// goes to the tensor-core GEMM path.
constexpr int64_t kGemvMaxTokens = 8;

// Validates like every backend (check_matmul_args) and that all tensors are on the device.
void check_matmul_device_args(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y);

// y = x w^T (+ bias) on `stream`; arguments already checked. `cublas` is used for T > kGemvMaxTokens.
void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream,
            cublasHandle_t cublas);

// The matrix-vector path (T <= kGemvMaxTokens). Returns false when the tensors' alignment does not
// allow it (16-byte vectors of plain types); the caller then takes the GEMM path.
bool gemv(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream);

// One-token plain products streamed through one wave of warps (gemv_plain_stream.cuh) so far, for tests.
uint64_t plain_streams();

// y += x w^T through the matrix-vector path, for the types, T and alignments it takes (q4_0, q8_0,
// q4_k at T <= 2; f32, f16, bf16 at T <= 8); false when it does not apply (nothing launched: the
// caller adds another way).
bool gemv_accumulate(const Tensor& x, const Tensor& w, const Tensor& y, cudaStream_t stream);
// y += (silu(gate) * up) w^T the same way, the activations formed while they are quantized: by the
// epilogue of an integer gate|up product held for it (gemv_rms_norm holds one where
// LLMR_CUDA_XREG_SWIGLU asks), else by quantize_swiglu. stream: the backend's, held products not
// released (false with nothing launched where the register-held kernel does not take w).
bool gemv_swiglu_accumulate(const Tensor& gate, const Tensor& up, const Tensor& w, const Tensor& y, cudaStream_t stream);
// out = silu(gate) * up from a held plain gate|up product whose halves gate and up are (gemv_rms_norm
// holds one unless LLMR_CUDA_PLAIN_SWIGLU=0), by its SwiGLU epilogue; false, with any held product
// launched as it is, otherwise. stream: the backend's, held products not released.
bool gemv_plain_swiglu(const Tensor& gate, const Tensor& up, const Tensor& out, cudaStream_t stream);

// y = rms_norm(x, norm_w) w^T the same way, the norm written straight into the GEMV's int8
// activations (rms_norm_quantize.h).
// LLMR_CUDA_NORM_QUANT=0 (read at every call) turns it off: false, the caller runs rms_norm, matmul.
// With rope.positions set, the product's rows are a stacked q|k|v and the GEMV's epilogue also
// rotates q and k and writes k and v to the cache (gemv_xreg.h's XregRope). A residual product held
// on the stream (norm_handoff.h) is taken if it writes x, launched first otherwise: nothing stays held.
bool gemv_rms_norm(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& w, const Tensor& y,
                   cudaStream_t stream, const XregRope& rope = {});
// Plain weights (f32, f16, bf16): y = h w^T with gemv_rms_norm's rope epilogue (the plain GEMV's
// warps 2i, 2i + 1 hold a rotation pair), T <= 2 and rows a multiple of 8; h is the norm's output.
bool gemv_plain_rope_fits(const Tensor& h, const Tensor& w, const Tensor& y);
void gemv_plain_rope(const Tensor& h, const Tensor& w, const Tensor& y, const XregRope& rope, cudaStream_t stream);
// y += w · activations through the matrix-vector path, where quantize(out) launches the kernel that
// writes the activations as XBlocks [T][w's columns / 32] and returns true, or launches nothing and
// returns false (it does not apply). False, with nothing launched, where the path does not apply.
bool gemv_accumulate_xblocks(const Tensor& w, int64_t T, const Tensor& y, cudaStream_t stream,
                             const std::function<bool(XBlock*)>& quantize);

// The tensor-core path: any T.
void gemm(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream,
          cublasHandle_t cublas);

// The quantized-weight tensor-core GEMM (gemm_mma.cu): reads q4_0/q4_1/q8_0/q4_k/q5_k/q6_k weights
// directly, any T. Returns false when the type, shape or alignment does not allow it (then use gemm()).
bool gemm_mma(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream);
// Largest T that matmul() sends to gemm_mma: LLMR_CUDA_MMA_MAX_TOKENS (read at every call; default 96,
// 0 = never). Throws Error naming the variable for text that is not a count.
int64_t mma_max_tokens();

// Causal attention over the cache (see Backend::attention); arguments already checked, positions on
// the host. device_positions: the same array on the device, or null when positions are consecutive
// (positions[t] = positions[0] + t). Throws Error for head_dim > kMaxAttentionHeadDim.
constexpr int kMaxAttentionHeadDim = 256;
// What the kernels need beyond op_checks::attention: head_dim within the limit, whole-element row strides.
void check_attention_kernel_args(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                 const AttentionSpec& spec, const Tensor& out);
void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, std::span<const int32_t> positions,
               const AttentionSpec& spec, const Tensor& out, cudaStream_t stream, const int32_t* device_positions);

// The flash-decoding kernel (attention_decode.cu): keys split over enough blocks to fill the GPU
// for generation steps (T <= kDecodeMaxTokens); prompts take it too, one block per token and head
// group. Returns false when it does not apply (the caller then takes the older kernel).
constexpr int64_t kDecodeMaxTokens = 8;
// A paged cache's block tables on the device: row t's position p is cache row
// blocks[t * stride + p / block_size] * block_size + p % block_size.
struct KvBlockTable {
  const int32_t* blocks = nullptr;
  int64_t stride = 0;
  int block_size = 0;
};
// xq: when set, the output also goes out as XBlocks [T][n_head * head_dim / 32] (the integer GEMV's
// activations, made by the merge); false, with nothing launched, where head_dim % 32 or a single split
// (no merge) does not allow that.
bool attention_decode(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, std::span<const int32_t> positions,
                      const AttentionSpec& spec, const Tensor& out, cudaStream_t stream,
                      const int32_t* device_positions, const KvBlockTable& table = {}, XBlock* xq = nullptr);

// The tensor-core flash-attention kernel for prompts (attention_prefill_mma.cu): f16 K and V, head_dim
// 64 or 128, 16-byte aligned cache rows, GQA group <= 64. Returns false when it does not apply or
// LLMR_CUDA_FLASH_MMA=0 (read at every call); Q and P are rounded to f16 (see the file).
bool attention_prefill_mma(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                           std::span<const int32_t> positions, const AttentionSpec& spec, const Tensor& out,
                           cudaStream_t stream, const int32_t* device_positions);

// LLMR_CUDA_OLD_KERNELS=1 (read at every call) selects the previous GEMV and attention kernels,
// for comparison runs; LLMR_CUDA_OLD_KERNELS=prefill only the previous attention for T > 8.
bool old_kernels_requested();
bool old_prefill_attention_requested();
// LLMR_CUDA_FUSED_GEMV=1 selects the one-launch GEMV (activations quantized in shared memory). Off by
// default: on the H200 it measured slower than quantize-then-GEMV on every Llama-3-8B shape
// (docs/measurements/2026-11-29-h200/, second session).
bool fused_gemv_requested();
// LLMR_CUDA_FLOAT_GEMV=1 (read at every call; LLMR_CUDA_OLD_KERNELS=1 overrides it) selects the GEMV
// that decodes weights to f32 and keeps the activations in f32 (no int8 rounding of x) for every
// quantized type at T <= 8; unset or 0: int8 activations, faster on the H200. Defined in gemv_kernels.cu.
bool float_gemv_requested();

// Keeps memory freed by cudaFreeAsync in the device's pool between calls (the scratch buffers of
// these ops), instead of returning it to the driver at every synchronization.
void keep_pool_memory(int device);

}  // namespace llmr::cuda_ops
