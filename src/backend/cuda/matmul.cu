// CudaBackend::matmul: validation shared with every backend, then the matrix-vector kernels for
// generation (T <= 8), the quantized-weight tensor-core GEMM for batches (8 < T <= mma_max_tokens()),
// or the dequantize + cuBLAS GEMM for prompts and the other types.
#include <mutex>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/matmul_kernels.h"
#include "backend/cuda/stream_arena.h"
#include "ops/matmul_checks.h"
#include "ops/op_checks.h"

namespace llmr {
namespace cuda_ops {

void check_matmul_device_args(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  cuda_detail::check_on_device("matmul", {{"x", &x}, {"w", &w}, {"y", &y}});
  if (bias) cuda_detail::check_on_device("matmul", {{"bias", bias}});
  // check_matmul_args checks shapes, types and strides of host tensors: give it host-labelled
  // descriptors of the same views (it reads no data).
  Tensor hx = x, hw = w, hy = y, hb;
  hx.device = hw.device = hy.device = Device::Host;
  if (bias) {
    hb = *bias;
    hb.device = Device::Host;
  }
  check_matmul_args(hx, hw, bias ? &hb : nullptr, hy);
  check(x.stride[0] % 4 == 0 && y.stride[0] % 4 == 0 && reinterpret_cast<uintptr_t>(x.data) % 4 == 0 &&
            reinterpret_cast<uintptr_t>(y.data) % 4 == 0,
        "matmul: x " + x.describe() + " and y " + y.describe() + " rows must be 4-byte aligned");
}

void keep_pool_memory(int device) {
  static std::once_flag once[64];
  if (device < 0 || device >= 64) return;
  std::call_once(once[device], [device] {
    cudaMemPool_t pool;
    check_cuda(cudaDeviceGetDefaultMemPool(&pool, device), "matmul", "cudaDeviceGetDefaultMemPool");
    uint64_t keep = UINT64_MAX;
    check_cuda(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "matmul",
               "cudaMemPoolSetAttribute");
  });
}

void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, cudaStream_t stream,
            cublasHandle_t cublas) {
  const int64_t T = x.shape[0];
  if (T == 0 || w.shape[0] == 0) return;
  if (T <= kGemvMaxTokens && w.shape[1] > 0 && gemv(x, w, bias, y, stream)) return;
  if (T > kGemvMaxTokens && T <= mma_max_tokens() && gemm_mma(x, w, bias, y, stream)) return;
  gemm(x, w, bias, y, stream, cublas);
}

}  // namespace cuda_ops

void CudaBackend::matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  cuda_ops::check_matmul_device_args(x, w, bias, y);
  cuda_ops::keep_pool_memory(device());
  cuda_ops::matmul(x, w, bias, y, stream(), cublas());
}

// y += x w^T: the GEMV adds into y where it can (generation), else a stream-ordered scratch product and add.
void CudaBackend::matmul_add(const Tensor& x, const Tensor& w, const Tensor& y) {
  cuda_ops::check_matmul_device_args(x, w, nullptr, y);
  cuda_ops::keep_pool_memory(device());
  if (x.shape[0] == 0 || w.shape[0] == 0) return;
  if (cuda_ops::gemv_accumulate(x, w, y, stream())) return;
  cuda_ops::StreamScratch product(size_t(y.shape[0]) * size_t(y.shape[1]) * 4, stream(), "matmul_add");
  const Tensor p = Tensor::view(product.as<float>(), DType::F32, {y.shape[0], y.shape[1]}, Device::Cuda);
  cuda_ops::matmul(x, w, nullptr, p, stream(), cublas());
  add(y, p, y);
}

// y = rms_norm(x) w^T: the norm quantized straight into the GEMV's activations where that applies
// (generation), else rms_norm into h and matmul.
void CudaBackend::rms_norm_matmul(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h, const Tensor& w,
                                  const Tensor& y) {
  op_checks::rms_norm(x, norm_w, eps, h);
  cuda_detail::check_on_device("rms_norm_matmul", {{"x", &x}, {"norm_w", &norm_w}});
  cuda_ops::check_matmul_device_args(h, w, nullptr, y);
  cuda_ops::keep_pool_memory(device());
  if (x.shape[0] == 0 || w.shape[0] == 0) return;
  if (cuda_ops::gemv_rms_norm(x, norm_w, eps, w, y, stream_holding())) return;  // it may take a held product
  rms_norm(x, norm_w, eps, h);
  matmul(h, w, nullptr, y);
}

// y += swiglu(gate, up) w^T: the activations formed while they are quantized for the GEMV where it
// applies (generation), else swiglu into a stream-ordered scratch and matmul_add.
void CudaBackend::swiglu_matmul_add(const Tensor& gate, const Tensor& up, const Tensor& w, const Tensor& y) {
  op_checks::swiglu(gate, up, gate);
  cuda_ops::check_matmul_device_args(gate, w, nullptr, y);
  cuda_detail::check_on_device("swiglu_matmul_add", {{"up", &up}});
  cuda_ops::keep_pool_memory(device());
  if (gate.shape[0] == 0 || w.shape[0] == 0) return;
  cuda_ops::SlotScratch act(size_t(gate.shape[0]) * size_t(gate.shape[1]) * 4, stream_holding(),
                           cuda_ops::ArenaSlot::SwigluActivations, "swiglu_matmul_add");
  const Tensor a = Tensor::view(act.as<float>(), DType::F32, {gate.shape[0], gate.shape[1]}, Device::Cuda);
  // A held gate|up product forms the activations in its epilogue (both may take the held product).
  if (cuda_ops::gemv_swiglu_accumulate(gate, up, w, y, stream_holding())) return;
  if (cuda_ops::gemv_plain_swiglu(gate, up, a, stream_holding())) return matmul_add(a, w, y);
  swiglu(gate, up, a);
  matmul_add(a, w, y);
}

}  // namespace llmr
