// CudaBackend::rope_store_kv: a decode step's rotary embedding and KV cache write in one launch. A
// block per (token, head): q heads rotated in place, k heads rotated in place and stored at the
// token's cache row, v heads stored; the pair rotation is rope_rows' (rope_pair.cuh),
// the conversion store_rows' (round to nearest), so the result is bit for bit the unfused ops'.
// f16 / f32 caches; other cache types take the unfused ops, as does LLMR_CUDA_ROPE_KV=0.
#include <string>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/float_types.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/rope_pair.cuh"
#include "ops/op_checks.h"

namespace llmr {
namespace cuda_detail {
namespace {

struct RopeStoreArgs {
  char *q, *k;
  const char* v;
  char *k_cache, *v_cache;
  int64_t q_stride, k_stride, v_stride, kc_stride, vc_stride, cache_rows;  // bytes; rows
  const int32_t* positions;
  const float* inv_freq;
  int n_q, n_kv, head_dim, half;
  bool neox;
};

template <typename C>
__global__ void __launch_bounds__(128) rope_store_kv_kernel(RopeStoreArgs a) {
  cuda_ops::pdl_wait();
  cuda_ops::pdl_release();
  const int64_t t = blockIdx.x;
  const int h = blockIdx.y;
  const int64_t pos = a.positions[t];
  using S = typename C::Storage;
  if (h >= a.n_q + a.n_kv) {  // a v head: stored as it is
    const int hv = h - a.n_q - a.n_kv;
    if (pos < 0 || pos >= a.cache_rows) return;
    const float* src = reinterpret_cast<const float*>(a.v + t * a.v_stride) + int64_t(hv) * a.head_dim;
    S* dst = reinterpret_cast<S*>(a.v_cache + pos * a.vc_stride) + int64_t(hv) * a.head_dim;
    for (int j = threadIdx.x; j < a.head_dim; j += blockDim.x) dst[j] = C::store(src[j]);
    return;
  }
  const bool is_k = h >= a.n_q;
  float* head = is_k ? reinterpret_cast<float*>(a.k + t * a.k_stride) + int64_t(h - a.n_q) * a.head_dim
                     : reinterpret_cast<float*>(a.q + t * a.q_stride) + int64_t(h) * a.head_dim;
  const float p = float(pos);
  for (int i = threadIdx.x; i < a.half; i += blockDim.x) {
    const int ia = a.neox ? i : 2 * i, ib = a.neox ? i + a.half : 2 * i + 1;
    rotate_pair(head[ia], head[ib], p, a.inv_freq[i]);
  }
  if (!is_k) return;
  __syncthreads();  // the whole rotated head (and its unrotated tail) goes to the cache
  if (pos < 0 || pos >= a.cache_rows) return;
  S* dst = reinterpret_cast<S*>(a.k_cache + pos * a.kc_stride) + int64_t(h - a.n_q) * a.head_dim;
  for (int j = threadIdx.x; j < a.head_dim; j += blockDim.x) dst[j] = C::store(head[j]);
}

}  // namespace
}  // namespace cuda_detail

void CudaBackend::rope_store_kv(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                                const RopeSpec& spec, const Tensor& k_cache, const Tensor& v_cache) {
  using namespace cuda_detail;
  const bool fused_type = k_cache.type == v_cache.type && (k_cache.type == DType::F16 || k_cache.type == DType::F32);
  const int64_t T = q.rows();
  // LLMR_CUDA_ROPE_KV=0: the unfused ops, for comparison runs
  if (!fused_type || !cuda_ops::switch_on("LLMR_CUDA_ROPE_KV") || T == 0 || T > 65535 || spec.head_dim > 256 ||
      q.type != DType::F32 || k.type != DType::F32 || v.type != DType::F32 || k.rows() != T || v.rows() != T ||
      q.cols() % spec.head_dim || k.cols() % spec.head_dim || v.cols() != k.cols() ||
      k_cache.cols() != k.cols() || v_cache.cols() != v.cols()) {
    Backend::rope_store_kv(q, k, v, positions, spec, k_cache, v_cache);  // the unfused ops (and their checks)
    return;
  }
  check_on_device("rope_store_kv", {{"q", &q}, {"k", &k}, {"v", &v}, {"positions", &positions}, {"k_cache", &k_cache},
                                    {"v_cache", &v_cache}});
  op_checks::index_tensor("rope_store_kv", "positions", positions, T);
  const std::vector<int32_t> zeros(size_t(T), 0);  // for the shape checks; the values are on the device
  op_checks::rope(q, int(q.cols() / spec.head_dim), zeros, spec);
  op_checks::rope(k, int(k.cols() / spec.head_dim), zeros, spec);
  RopeStoreArgs a{};
  a.q = static_cast<char*>(q.data), a.k = static_cast<char*>(k.data), a.v = static_cast<const char*>(v.data);
  a.k_cache = static_cast<char*>(k_cache.data), a.v_cache = static_cast<char*>(v_cache.data);
  a.q_stride = q.row_stride(), a.k_stride = k.row_stride(), a.v_stride = v.row_stride();
  a.kc_stride = k_cache.row_stride(), a.vc_stride = v_cache.row_stride(), a.cache_rows = k_cache.rows();
  a.positions = static_cast<const int32_t*>(positions.data);
  a.half = spec.rot_dims / 2;
  a.inv_freq = rope_inv_freq(spec.inv_freq, a.half);
  a.n_q = int(q.cols() / spec.head_dim), a.n_kv = int(k.cols() / spec.head_dim), a.head_dim = spec.head_dim;
  a.neox = spec.layout == RopeLayout::NeoX;
  const dim3 grid(unsigned(T), unsigned(a.n_q + 2 * a.n_kv));
  if (k_cache.type == DType::F16)
    cuda_ops::launch_pdl(rope_store_kv_kernel<F16>, grid, dim3(64), 0, stream(), "rope_store_kv", "rope_store_kv_kernel", a);
  else
    cuda_ops::launch_pdl(rope_store_kv_kernel<F32>, grid, dim3(64), 0, stream(), "rope_store_kv", "rope_store_kv_kernel", a);
}

}  // namespace llmr
