// CudaBackend::attention_matmul_add: for generation, the flash-decoding kernel writes the attention
// output straight as the output projection's int8 activations, and the GEMV adds its product into x;
// otherwise attention_from, then matmul_add. LLMR_CUDA_ATTN_QUANT=0 (read at every call) turns the
// fused path off.
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/matmul_kernels.h"
#include "ops/op_checks.h"

namespace llmr {

void CudaBackend::attention_matmul_add(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                       const Tensor& positions, const AttentionSpec& spec, const Tensor& attn,
                                       const Tensor& w, const Tensor& x) {
  cuda_detail::check_on_device("attention_matmul_add", {{"q", &q}, {"k_cache", &k_cache}, {"v_cache", &v_cache},
                                                        {"positions", &positions}, {"attn", &attn}});
  op_checks::index_tensor("attention", "positions", positions, q.rows());
  cuda_ops::check_matmul_device_args(attn, w, nullptr, x);
  if (q.rows() == 0) return;
  check(k_cache.rows() >= 1 && k_cache.rows() <= INT32_MAX, "attention: k_cache " + k_cache.describe() + " has no rows");
  // sized for the most keys the cache holds, as attention_from: the kernels read the real positions
  const std::vector<int32_t> bound(size_t(q.rows()), int32_t(k_cache.rows() - 1));
  op_checks::attention(q, k_cache, v_cache, bound, spec, attn);
  cuda_ops::check_attention_kernel_args(q, k_cache, v_cache, spec, attn);
  cuda_ops::keep_pool_memory(device());
  const bool fuse = cuda_ops::switch_on("LLMR_CUDA_ATTN_QUANT") && !cuda_ops::old_kernels_requested();
  const auto* dev_pos = static_cast<const int32_t*>(positions.data);
  if (fuse && cuda_ops::gemv_accumulate_xblocks(w, q.rows(), x, stream(), [&](cuda_ops::XBlock* out) {
        return cuda_ops::attention_decode(q, k_cache, v_cache, bound, spec, attn, stream(), dev_pos, {}, out);
      }))
    return;
  attention_from(q, k_cache, v_cache, positions, spec, attn);
  matmul_add(attn, w, x);
}

}  // namespace llmr
