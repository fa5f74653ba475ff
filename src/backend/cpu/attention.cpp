// CpuBackend::attention. One task per (token, KV head, key chunk): the query heads sharing a KV head
// read its rows together, and a long decode is split over key chunks (merged by their softmax
// statistics) so every thread has work even with one token. No [T, S] score matrix is formed.
// q8_0 caches: decode steps read the levels a vector at a time (widened, scaled by the block's d);
// prompts dequantize the keys in reach once, to f32, first.
#include <algorithm>
#include <cmath>
#include <memory>
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

namespace {
// Key chunks per (token, KV head): enough tasks for ~2 per thread, chunks of at least 256 keys.
int64_t key_chunks(int64_t groups, int64_t max_keys, int threads) {
  if (groups >= 2 * threads) return 1;
  const int64_t wanted = (2 * threads + groups - 1) / groups;
  return std::max<int64_t>(1, std::min(wanted, max_keys / 256));
}
}  // namespace

void attention(ThreadPool& pool, SimdLevel level, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
               std::span<const int32_t> positions, const AttentionSpec& spec, const Tensor& out) {
  op_checks::attention(q, k_cache, v_cache, positions, spec, out);
  for (const Tensor* t : {&q, &k_cache, &v_cache, &out}) op_checks::check_device("attention", "tensor", *t, Device::Host);
  const int64_t max_keys = positions.empty() ? 0 : int64_t(*std::max_element(positions.begin(), positions.end())) + 1;
  // Bytes of f32 copies of the keys and values in reach: bounded, so a long context costs time, not memory.
  constexpr int64_t kMaxDequantizedBytes = int64_t(256) << 20;
  if (q.rows() > 1 && (k_cache.type == DType::Q8_0 || v_cache.type == DType::Q8_0) &&
      2 * max_keys * k_cache.cols() * 4 <= kMaxDequantizedBytes) {
    // A prompt over a q8_0 cache: every token would widen every key again; do it once, to f32
    // (exact: q * d has at most 18 significant bits), then attend over that.
    const auto dequantized = [&](const Tensor& cache, std::unique_ptr<Buffer>& holder) {
      if (cache.type != DType::Q8_0) return cache.slice_rows(0, max_keys);
      holder = alloc_host(DType::F32, {max_keys, cache.cols()});
      copy(pool, level, cache.slice_rows(0, max_keys), holder->tensor());
      return holder->tensor();
    };
    std::unique_ptr<Buffer> k32, v32;
    const Tensor keys = dequantized(k_cache, k32), values = dequantized(v_cache, v32);
    return attention(pool, level, q, keys, values, positions, spec, out);
  }
  const auto kernel = attention_kernels(level).group[kv_type_index(k_cache.type)][kv_type_index(v_cache.type)];
  const int hd = spec.head_dim, group = spec.n_head / spec.n_kv_head;
  // Bytes from a row's start to KV head kv's slice (q8_0 heads are whole blocks: op_checks).
  const auto head_offset = [hd](DType type, int kv) { return int64_t(row_bytes(type, int64_t(kv) * hd)); };
  const int64_t T = q.rows(), groups = T * spec.n_kv_head;
  const int64_t chunks = key_chunks(groups, max_keys, pool.size());
  const int64_t chunk_len = (max_keys + chunks - 1) / std::max<int64_t>(chunks, 1);
  // Per (token, head, chunk) partial results when the keys are split: acc[hd], max, sum.
  const int64_t stat = hd + 2;
  std::vector<float> partial(chunks > 1 ? size_t(T * spec.n_head * chunks * stat) : 0);

  pool.parallel_for(groups * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(size_t(group) * size_t(hd)), mx(static_cast<size_t>(group)), sum(static_cast<size_t>(group)),
        scores(size_t(group) * kAttentionTile);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t c = task % chunks, t = task / chunks / spec.n_kv_head;
      const int kv = int(task / chunks % spec.n_kv_head), h0 = kv * group;
      const int64_t n_keys = int64_t(positions[t]) + 1;
      const int64_t key_begin = std::min(n_keys, c * chunk_len), key_end = std::min(n_keys, (c + 1) * chunk_len);
      kernel(q.row<const float>(t) + int64_t(h0) * hd, group, k_cache.row<const char>(0) + head_offset(k_cache.type, kv),
             k_cache.row_stride(), v_cache.row<const char>(0) + head_offset(v_cache.type, kv), v_cache.row_stride(),
             key_begin, key_end, hd, spec.scale, acc.data(), mx.data(), sum.data(), scores.data());
      for (int i = 0; i < group; ++i) {
        if (chunks == 1) {
          float* o = out.row<float>(t) + int64_t(h0 + i) * hd;
          const float inv = 1.f / sum[i];
          for (int d = 0; d < hd; ++d) o[d] = acc[size_t(i) * hd + d] * inv;
        } else {
          float* p = partial.data() + ((t * spec.n_head + h0 + i) * chunks + c) * stat;
          std::copy(acc.begin() + int64_t(i) * hd, acc.begin() + int64_t(i + 1) * hd, p);
          p[hd] = mx[i];
          p[hd + 1] = sum[i];
        }
      }
    }
  });
  if (chunks == 1) return;

  // Merge the chunks of each (token, head): weights exp(max_c - max) rescale sums and accumulators.
  pool.parallel_for(T * spec.n_head, 4, [&](int64_t begin, int64_t end) {
    for (int64_t th = begin; th < end; ++th) {
      const float* p = partial.data() + th * chunks * stat;
      float m = -INFINITY;
      for (int64_t c = 0; c < chunks; ++c) m = std::max(m, p[c * stat + hd]);
      float* o = out.row<float>(th / spec.n_head) + (th % spec.n_head) * hd;
      std::fill(o, o + hd, 0.f);
      float total = 0;
      for (int64_t c = 0; c < chunks; ++c) {
        const float* pc = p + c * stat;
        if (pc[hd] == -INFINITY) continue;  // a chunk past this token's last key
        const float w = std::exp(pc[hd] - m);
        total += w * pc[hd + 1];
        for (int d = 0; d < hd; ++d) o[d] += w * pc[d];
      }
      const float inv = 1.f / total;
      for (int d = 0; d < hd; ++d) o[d] *= inv;
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
