// Matrix-matrix products for prompt processing, on tensor cores through cuBLAS:
// - quantized weights: dequantized to an f16 scratch copy (values as dequantize_row, then rounded
//   to f16), x converted to f16 once, one f16 x f16 -> f32 GEMM. The f16 roundings move each
//   product by at most 2^-11 |x||w| each, well inside the error of the int8 activations the other
//   backends use for these types.
// - f16 / bf16 weights: used as they are; x split into hi + lo parts of the weight's type (x - hi is
//   exact in f32), two GEMMs accumulate into y: the residual error is ~2^-22 (f16) or ~2^-18 (bf16)
//   of |x|, so these stay as accurate as f32 arithmetic on the stored weights.
// - f32 weights: an f32 GEMM with the pedantic compute type (no TF32 rounding).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/kernel_status.h"
#include "backend/cuda/matmul_kernels.h"
#include "backend/cuda/quant_device.cuh"

namespace llmr::cuda_ops {
namespace {

// W [n_out, n_in] of a quantized type -> f16 [n_out, n_in] contiguous; one thread per 32-element unit.
template <DType W>
__global__ void dequantize_to_f16_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t n_out,
                                         int64_t units_per_row, __half* __restrict__ out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_out * units_per_row) return;
  const int64_t row = i / units_per_row, u = i % units_per_row;
  float v[32];
  Unit<W>::to_floats(Unit<W>::load(w + row * w_stride, u), v);
  uint4* dst = reinterpret_cast<uint4*>(out + row * units_per_row * 32 + u * 32);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    __half2 h[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) h[j] = __floats2half2_rn(v[8 * k + 2 * j], v[8 * k + 2 * j + 1]);
    dst[k] = *reinterpret_cast<uint4*>(h);
  }
}

template <typename H>
__device__ __forceinline__ H to_half_type(float v);
template <>
__device__ __forceinline__ __half to_half_type<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 to_half_type<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
__device__ __forceinline__ float from_half_type(__half v) { return __half2float(v); }
__device__ __forceinline__ float from_half_type(__nv_bfloat16 v) { return __bfloat162float(v); }

// x [T, n] f32 (strided) -> hi [T, n] and, when lo is not null, lo = x - hi, both contiguous.
template <typename H>
__global__ void split_x_kernel(const float* __restrict__ x, int64_t x_stride, int64_t T, int64_t n,
                               H* __restrict__ hi, H* __restrict__ lo) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= T * n) return;
  const float v = x[(i / n) * x_stride + i % n];
  const H h = to_half_type<H>(v);
  hi[i] = h;
  if (lo) lo[i] = to_half_type<H>(v - from_half_type(h));
}

__global__ void add_bias_kernel(float* __restrict__ y, int64_t y_stride, int64_t T, int64_t n_out,
                                const float* __restrict__ bias) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= T * n_out) return;
  y[(i / n_out) * y_stride + i % n_out] += bias[i % n_out];
}

unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

template <DType W>
void dequantize_to_f16(const Tensor& w, __half* out, cudaStream_t stream) {
  const int64_t units = w.shape[1] / 32, total = w.shape[0] * units;
  dequantize_to_f16_kernel<W><<<blocks_for(total, 256), 256, 0, stream>>>(static_cast<const uint8_t*>(w.data),
                                                                          w.stride[0], w.shape[0], units, out);
  check_launch("matmul", "dequantize_to_f16_kernel");
}

// y^T [n_out, T] (column-major, ld y_stride) = W [n_out, n_in] (row-major = column-major W^T) * X^T.
void gemm_ex(cublasHandle_t cublas, const void* w, cudaDataType w_type, int64_t ldw, const void* x,
             cudaDataType x_type, int64_t ldx, float* y, int64_t ldy, int64_t n_out, int64_t T, int64_t n_in,
             float beta, cublasComputeType_t compute) {
  const float alpha = 1.f;
  check(n_out <= INT32_MAX && T <= INT32_MAX && n_in <= INT32_MAX && ldw <= INT32_MAX && ldy <= INT32_MAX,
        "matmul: shape too large for cuBLAS");
  check_cublas(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(n_out), int(T), int(n_in), &alpha, w, w_type,
                            int(ldw), x, x_type, int(ldx), &beta, y, CUDA_R_32F, int(ldy), compute,
                            CUBLAS_GEMM_DEFAULT),
               "matmul", "cublasGemmEx");
}

template <typename H>
void split_x(const Tensor& x, H* hi, H* lo, cudaStream_t stream) {
  const int64_t T = x.shape[0], n = x.shape[1];
  split_x_kernel<H><<<blocks_for(T * n, 256), 256, 0, stream>>>(static_cast<const float*>(x.data),
                                                                x.stride[0] / 4, T, n, hi, lo);
  check_launch("matmul", "split_x_kernel");
}

}  // namespace

void gemm(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream,
          cublasHandle_t cublas) {
  const int64_t T = x.shape[0], n_in = x.shape[1], n_out = w.shape[0];
  if (T == 0 || n_out == 0) return;
  check_cublas(cublasSetStream(cublas, stream), "matmul", "cublasSetStream");
  float* yp = static_cast<float*>(y.data);
  const int64_t ldy = y.stride[0] / 4;
  if (n_in == 0) {
    check_cuda(cudaMemset2DAsync(yp, size_t(y.stride[0]), 0, size_t(n_out) * 4, size_t(T), stream), "matmul",
               "cudaMemset2DAsync");
  } else if (w.type == DType::F32) {
    check(w.stride[0] % 4 == 0, "matmul: f32 weight rows must be 4-byte aligned");
    gemm_ex(cublas, w.data, CUDA_R_32F, w.stride[0] / 4, x.data, CUDA_R_32F, x.stride[0] / 4, yp, ldy, n_out, T,
            n_in, 0.f, CUBLAS_COMPUTE_32F_PEDANTIC);
  } else if (w.type == DType::F16 || w.type == DType::BF16) {
    check(w.stride[0] % 2 == 0, "matmul: half weight rows must be 2-byte aligned");
    StreamScratch parts(size_t(2 * T * n_in) * 2, stream, "matmul");
    const bool f16 = w.type == DType::F16;
    if (f16) split_x(x, parts.as<__half>(), parts.as<__half>() + T * n_in, stream);
    else split_x(x, parts.as<__nv_bfloat16>(), parts.as<__nv_bfloat16>() + T * n_in, stream);
    const cudaDataType type = f16 ? CUDA_R_16F : CUDA_R_16BF;
    const auto* hi = parts.as<uint16_t>();
    gemm_ex(cublas, w.data, type, w.stride[0] / 2, hi, type, n_in, yp, ldy, n_out, T, n_in, 0.f,
            CUBLAS_COMPUTE_32F);
    gemm_ex(cublas, w.data, type, w.stride[0] / 2, hi + T * n_in, type, n_in, yp, ldy, n_out, T, n_in, 1.f,
            CUBLAS_COMPUTE_32F);
  } else {
    const int64_t need = weight_row_alignment(w.type);
    check(reinterpret_cast<uintptr_t>(w.data) % need == 0 && w.stride[0] % need == 0,
          "matmul: " + std::string(name(w.type)) + " weight rows must be " + std::to_string(need) +
              "-byte aligned, got " + w.describe());
    StreamScratch wh(size_t(n_out * n_in) * 2, stream, "matmul");
    StreamScratch xh(size_t(T * n_in) * 2, stream, "matmul");
    switch (w.type) {
      case DType::Q8_0: dequantize_to_f16<DType::Q8_0>(w, wh.as<__half>(), stream); break;
      case DType::Q4_0: dequantize_to_f16<DType::Q4_0>(w, wh.as<__half>(), stream); break;
      case DType::Q4_1: dequantize_to_f16<DType::Q4_1>(w, wh.as<__half>(), stream); break;
      case DType::Q4_K: dequantize_to_f16<DType::Q4_K>(w, wh.as<__half>(), stream); break;
      case DType::Q5_K: dequantize_to_f16<DType::Q5_K>(w, wh.as<__half>(), stream); break;
      case DType::Q6_K: dequantize_to_f16<DType::Q6_K>(w, wh.as<__half>(), stream); break;
      case DType::Q4_0C: dequantize_to_f16<DType::Q4_0C>(w, wh.as<__half>(), stream); break;
      case DType::Q4_KC: dequantize_to_f16<DType::Q4_KC>(w, wh.as<__half>(), stream); break;
      default: throw Error("matmul: no GEMM path for " + std::string(name(w.type)));
    }
    split_x<__half>(x, xh.as<__half>(), nullptr, stream);
    gemm_ex(cublas, wh.as<__half>(), CUDA_R_16F, n_in, xh.as<__half>(), CUDA_R_16F, n_in, yp, ldy, n_out, T, n_in,
            0.f, CUBLAS_COMPUTE_32F);
  }
  if (bias) {
    add_bias_kernel<<<blocks_for(T * n_out, 256), 256, 0, stream>>>(yp, ldy, T, n_out,
                                                                    static_cast<const float*>(bias->data));
    check_launch("matmul", "add_bias_kernel");
  }
}

}  // namespace llmr::cuda_ops
