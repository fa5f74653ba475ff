// CudaBackend::attention_paged: the flash-decoding kernel reading keys and values through the
// sequences' block tables, so the server's batch attends over its paged cache in one launch.
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/matmul_kernels.h"
#include "ops/op_checks.h"

namespace llmr {

void CudaBackend::attention_paged(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool, const Tensor& positions,
                                  const Tensor& block_table, int64_t block_size, const AttentionSpec& spec,
                                  const Tensor& out) {
  op_checks::attention_paged(q, k_pool, v_pool, positions, block_table, block_size, spec, out);
  cuda_detail::check_on_device("attention_paged", {{"q", &q}, {"k_pool", &k_pool}, {"v_pool", &v_pool},
                                                   {"positions", &positions}, {"block_table", &block_table},
                                                   {"out", &out}});
  if (q.rows() == 0) return;
  check(block_size <= INT32_MAX && block_table.cols() * block_size <= INT32_MAX,
        "attention_paged: block tables reach past 2^31 positions");
  cuda_ops::keep_pool_memory(device());
  // The launch is sized for the longest sequence a table can describe; each row reads its own
  // position on the device, and splits past it see no keys.
  const std::vector<int32_t> bound(size_t(q.rows()), int32_t(block_table.cols() * block_size - 1));
  const cuda_ops::KvBlockTable table{static_cast<const int32_t*>(block_table.data), block_table.cols(),
                                     int(block_size)};
  check(cuda_ops::attention_decode(q, k_pool, v_pool, bound, spec, out, stream(),
                                   static_cast<const int32_t*>(positions.data), table),
        "attention_paged: no CUDA kernel for these shapes (head_dim " + std::to_string(spec.head_dim) + ")");
}

}  // namespace llmr
