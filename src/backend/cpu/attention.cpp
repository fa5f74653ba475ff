// CpuBackend::attention: one task per (token, query head); each runs the tiled online-softmax
// kernel over its causal prefix of the cache, so no [T, S] score matrix is ever formed.
#include <vector>

#include "backend/cpu/attention_kernel.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/simd_kernels.h"
#include "backend/cpu/simd_vec_scalar.h"
#include "ops/op_checks.h"

namespace llmr::cpu {

const AttentionKernels& attention_kernels(SimdLevel level) {
  static const AttentionKernels scalar = make_attention_kernels<VecScalar>();
  return pick_kernels(level, scalar, &attention_kernels_avx2, &attention_kernels_avx512);
}

void attention(ThreadPool& pool, SimdLevel level, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
               std::span<const int32_t> positions, const AttentionSpec& spec, const Tensor& out) {
  op_checks::attention(q, k_cache, v_cache, positions, spec, out);
  for (const Tensor* t : {&q, &k_cache, &v_cache, &out}) op_checks::check_device("attention", "tensor", *t, Device::Host);
  const auto kernel = attention_kernels(level).head[k_cache.type == DType::F16][v_cache.type == DType::F16];
  const int hd = spec.head_dim, group = spec.n_head / spec.n_kv_head;
  const int64_t k_elem = int64_t(info(k_cache.type).block_bytes), v_elem = int64_t(info(v_cache.type).block_bytes);
  const int64_t tasks = q.rows() * spec.n_head;
  pool.parallel_for(tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(hd));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t t = task / spec.n_head;
      const int h = int(task % spec.n_head), kv = h / group;
      kernel(q.row<const float>(t) + int64_t(h) * hd, k_cache.row<const char>(0) + kv * hd * k_elem,
             k_cache.row_stride(), v_cache.row<const char>(0) + kv * hd * v_elem, v_cache.row_stride(),
             int64_t(positions[t]) + 1, hd, spec.scale, out.row<float>(t) + int64_t(h) * hd, acc.data());
    }
  });
}

}  // namespace llmr::cpu

namespace llmr {

void CpuBackend::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                           std::span<const int32_t> positions, const AttentionSpec& spec, const Tensor& out) {
  cpu::attention(pool_, cpu::active_level(), q, k_cache, v_cache, positions, spec, out);
}

}  // namespace llmr
