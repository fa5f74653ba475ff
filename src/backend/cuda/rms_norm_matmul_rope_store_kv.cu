// CudaBackend::rms_norm_matmul_rope_store_kv: for generation, the norm-quantize kernel and one GEMV
// whose epilogue also rotates q and k and writes k and v to the cache (gemv_xreg.h's XregRope), so a
// decode step has no rope_store_kv launch; plain weights (f16) take the norm kernel and the plain GEMV
// with that epilogue. The interleaved rope layout only (a rotation pair is two adjacent rows), f16 or
// f32 caches, T <= 2; otherwise, and with LLMR_CUDA_QKV_ROPE=0, the two ops.
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/matmul_kernels.h"
#include "ops/op_checks.h"

namespace llmr {

void CudaBackend::rms_norm_matmul_rope_store_kv(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h,
                                                const Tensor& wqkv, const Tensor& qkv, int64_t kv_dim,
                                                const Tensor& positions, const RopeSpec& spec, const Tensor& k_cache,
                                                const Tensor& v_cache) {
  const int64_t T = x.ndim == 2 ? x.rows() : 0, q_dim = qkv.ndim == 2 ? qkv.cols() - 2 * kv_dim : 0;
  const bool cache_f16 = k_cache.type == DType::F16;
  const bool fits = cuda_ops::switch_on("LLMR_CUDA_QKV_ROPE") && T >= 1 && T <= cuda_ops::kXregMaxTokens &&
                    spec.layout == RopeLayout::Interleaved && k_cache.type == v_cache.type &&
                    (cache_f16 || k_cache.type == DType::F32) && qkv.type == DType::F32 && kv_dim > 0 && q_dim > 0 &&
                    spec.head_dim > 0 && spec.head_dim % 2 == 0 && q_dim % spec.head_dim == 0 &&
                    kv_dim % spec.head_dim == 0 && k_cache.ndim == 2 && v_cache.ndim == 2 && qkv.rows() == T &&
                    k_cache.rows() == v_cache.rows() && positions.device == Device::Cuda;
  if (!fits) return Backend::rms_norm_matmul_rope_store_kv(x, norm_w, eps, h, wqkv, qkv, kv_dim, positions, spec,
                                                           k_cache, v_cache);
  // The checks of the two ops this stands for.
  op_checks::rms_norm(x, norm_w, eps, h);
  cuda_detail::check_on_device("rms_norm_matmul_rope_store_kv", {{"x", &x}, {"norm_w", &norm_w},
                                                                 {"positions", &positions}, {"k_cache", &k_cache},
                                                                 {"v_cache", &v_cache}});
  cuda_ops::check_matmul_device_args(h, wqkv, nullptr, qkv);
  const Tensor q = qkv.slice_cols(0, q_dim), k = qkv.slice_cols(q_dim, kv_dim);
  const Tensor v = qkv.slice_cols(q_dim + kv_dim, kv_dim);
  const std::vector<int32_t> zeros(size_t(T), 0);  // for the shape checks; the values are on the device
  op_checks::rope(q, int(q_dim / spec.head_dim), zeros, spec);
  op_checks::rope(k, int(kv_dim / spec.head_dim), zeros, spec);
  op_checks::store_rows(k, k_cache, positions);
  op_checks::store_rows(v, v_cache, positions);
  cuda_ops::keep_pool_memory(device());

  cuda_ops::XregRope r;
  r.positions = static_cast<const int32_t*>(positions.data);
  r.half = spec.rot_dims / 2;
  r.inv_freq = rope_inv_freq(spec.inv_freq, r.half);
  r.k_cache = static_cast<char*>(k_cache.data), r.v_cache = static_cast<char*>(v_cache.data);
  r.kc_stride = k_cache.row_stride(), r.vc_stride = v_cache.row_stride(), r.cache_rows = k_cache.rows();
  r.kv_begin = q_dim, r.v_begin = q_dim + kv_dim;
  r.head_dim = spec.head_dim;
  r.cache_f16 = cache_f16;
  if (wqkv.shape[0] > 0 && cuda_ops::gemv_rms_norm(x, norm_w, eps, wqkv, qkv, stream_holding(), r)) return;
  // Plain weights (f16): the norm, then the plain GEMV with the same epilogue.
  if (cuda_ops::gemv_plain_rope_fits(h, wqkv, qkv)) {
    rms_norm(x, norm_w, eps, h);
    cuda_ops::gemv_plain_rope(h, wqkv, qkv, r, stream());
    return;
  }
  Backend::rms_norm_matmul_rope_store_kv(x, norm_w, eps, h, wqkv, qkv, kv_dim, positions, spec, k_cache, v_cache);
}

}  // namespace llmr
