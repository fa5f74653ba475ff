// The previous attention kernel, kept for LLMR_CUDA_OLD_KERNELS=1 (or =prefill) comparison runs and
// for shapes attention_decode.cu declines. Causal attention over the KV cache, flash style, in f32
// (the op batteries ask for ~1e-4).
// One block = one query token x one KV head x up to 4 of that head's query heads x one split of
// the keys. Keys go through shared memory 32 at a time (K and V converted to f32 once per tile and
// shared by the group's query heads: GQA reads each K/V row once per token); per head, a running
// max and sum rescale the accumulator (online softmax). Prompts fill the GPU with (token, head)
// blocks and use one split; single-token steps over long caches split the keys over many blocks
// (flash-decoding) and a second kernel merges the splits by their softmax statistics. Any pair of
// f32 / f16 / q8_0 caches (q8_0 beside another type comes only here).
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <type_traits>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/device_limits.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/kv_q8.cuh"
#include "backend/cuda/matmul_kernels.h"
#include "ops/op_checks.h"

namespace llmr {
namespace cuda_ops {
namespace {

constexpr int kThreads = 128;
constexpr int kKeysPerTile = 32;
constexpr int kHeadsPerBlock = 4;  // query heads of one KV group handled by a block (one warp each)
constexpr int kOutPerThread = kHeadsPerBlock * kMaxAttentionHeadDim / kThreads;
static_assert(kThreads == 32 * kHeadsPerBlock);

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

using cuda_detail::Q8;

// Element `col` of the cache row at `row`, as f32; T is float, __half or Q8.
template <typename T>
__device__ __forceinline__ float cache_element(const char* row, int64_t col) {
  if constexpr (std::is_same_v<T, Q8>) return cuda_detail::q8_element(row, col);
  else return to_f32(reinterpret_cast<const T*>(row)[col]);
}

struct AttnParams {
  const float* q;
  int64_t q_stride;  // floats
  const void* k;
  int64_t k_stride;  // bytes
  const void* v;
  int64_t v_stride;  // bytes
  float* out;
  int64_t out_stride;
  const int32_t* positions;  // device array, or null: positions[t] = first_pos + t
  int32_t first_pos;
  int T, n_head, n_kv_head, head_dim, group, head_groups;
  float scale;
  int n_split, keys_per_split;
  float* part_o;   // [T, n_head, n_split, head_dim] unnormalised accumulators (n_split > 1)
  float2* part_ml; // [T, n_head, n_split] (running max, sum)
};

__device__ __forceinline__ int smem_row(int hd) { return hd % 2 == 0 ? hd + 1 : hd; }  // odd: no bank conflicts

template <typename KT, typename VT>
__global__ void __launch_bounds__(kThreads) attention_split_kernel(AttnParams p) {
  extern __shared__ float smem[];
  const int hd = p.head_dim, row = smem_row(hd);
  float* q_s = smem;                                     // [4][hd], pre-scaled
  float* k_s = q_s + kHeadsPerBlock * hd;                // [32][row]
  float* v_s = k_s + kKeysPerTile * row;                 // [32][row]
  float* p_s = v_s + kKeysPerTile * row;                 // [4][32]
  float* alpha_s = p_s + kHeadsPerBlock * kKeysPerTile;  // [4]
  float* l_s = alpha_s + kHeadsPerBlock;                 // [4]

  const int split = blockIdx.x % p.n_split, t = blockIdx.x / p.n_split;
  const int kvh = blockIdx.y / p.head_groups, hg = blockIdx.y % p.head_groups;
  const int h0 = kvh * p.group + hg * kHeadsPerBlock;
  const int nh = min(kHeadsPerBlock, p.group - hg * kHeadsPerBlock);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid & 31;
  const int n_keys = (p.positions ? p.positions[t] : p.first_pos + t) + 1;
  const int k_begin = split * p.keys_per_split, k_end = min(n_keys, k_begin + p.keys_per_split);

  for (int i = tid; i < nh * hd; i += kThreads)
    q_s[i] = p.q[int64_t(t) * p.q_stride + int64_t(h0) * hd + i] * p.scale;

  const char* kc = static_cast<const char*>(p.k);
  const char* vc = static_cast<const char*>(p.v);
  const int64_t head_col = int64_t(kvh) * hd;  // this KV head's first element in a row
  float m = -INFINITY, l = 0.f;  // warp `warp`'s head: all lanes hold the same values
  float acc[kOutPerThread];
#pragma unroll
  for (int i = 0; i < kOutPerThread; ++i) acc[i] = 0.f;

  for (int tile = k_begin; tile < k_end; tile += kKeysPerTile) {
    __syncthreads();  // previous tile's readers are done (and q_s is written, first time round)
    for (int i = tid; i < kKeysPerTile * hd; i += kThreads) {
      const int j = i / hd, d = i % hd, key = tile + j;
      const bool ok = key < k_end;
      k_s[j * row + d] = ok ? cache_element<KT>(kc + int64_t(key) * p.k_stride, head_col + d) : 0.f;
      v_s[j * row + d] = ok ? cache_element<VT>(vc + int64_t(key) * p.v_stride, head_col + d) : 0.f;
    }
    __syncthreads();
    if (warp < nh) {
      const int key = tile + lane;
      float s = -INFINITY;
      if (key < k_end) {
        const float* qh = q_s + warp * hd;
        const float* kr = k_s + lane * row;
        float dot = 0.f;
        for (int d = 0; d < hd; ++d) dot = fmaf(qh[d], kr[d], dot);
        s = dot;
      }
      float tile_max = s;
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xFFFFFFFFu, tile_max, o));
      const float m_new = fmaxf(m, tile_max);  // finite: the tile holds at least one key
      const float pj = key < k_end ? expf(s - m_new) : 0.f;
      float psum = pj;
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) psum += __shfl_xor_sync(0xFFFFFFFFu, psum, o);
      const float alpha = expf(m - m_new);  // 0 on the first tile (m = -inf)
      l = l * alpha + psum;
      m = m_new;
      p_s[warp * kKeysPerTile + lane] = pj;
      if (lane == 0) alpha_s[warp] = alpha;
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kOutPerThread; ++i) {
      const int o = tid + kThreads * i;
      if (o < nh * hd) {
        const int h = o / hd, d = o % hd;
        const float* ph = p_s + h * kKeysPerTile;
        float a = acc[i] * alpha_s[h];
#pragma unroll 8
        for (int j = 0; j < kKeysPerTile; ++j) a = fmaf(ph[j], v_s[j * row + d], a);
        acc[i] = a;
      }
    }
  }

  if (p.n_split == 1) {
    if (warp < nh && lane == 0) l_s[warp] = l;
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kOutPerThread; ++i) {
      const int o = tid + kThreads * i;
      if (o < nh * hd) p.out[int64_t(t) * p.out_stride + int64_t(h0) * hd + o] = acc[i] / l_s[o / hd];
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < kOutPerThread; ++i) {
    const int o = tid + kThreads * i;
    if (o < nh * hd) {
      const int h = h0 + o / hd;
      p.part_o[((int64_t(t) * p.n_head + h) * p.n_split + split) * hd + o % hd] = acc[i];
    }
  }
  if (warp < nh && lane == 0) p.part_ml[(int64_t(t) * p.n_head + h0 + warp) * p.n_split + split] = make_float2(m, l);
}

// out[t, h] = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s; splits with no keys have m = -inf.
__global__ void attention_merge_kernel(AttnParams p) {
  const int th = blockIdx.x, hd = p.head_dim;
  const int t = th / p.n_head, h = th % p.n_head;
  const float2* ml = p.part_ml + int64_t(th) * p.n_split;
  float M = -INFINITY;
  for (int s = 0; s < p.n_split; ++s) M = fmaxf(M, ml[s].x);
  float L = 0.f;
  for (int s = 0; s < p.n_split; ++s) L += ml[s].x == -INFINITY ? 0.f : expf(ml[s].x - M) * ml[s].y;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.f;
    for (int s = 0; s < p.n_split; ++s)
      if (ml[s].x != -INFINITY) o += expf(ml[s].x - M) * p.part_o[(int64_t(th) * p.n_split + s) * hd + d];
    p.out[int64_t(t) * p.out_stride + int64_t(h) * hd + d] = o / L;
  }
}

size_t shared_bytes(int hd) {
  const int row = hd % 2 == 0 ? hd + 1 : hd;
  return sizeof(float) * size_t(kHeadsPerBlock * hd + 2 * kKeysPerTile * row + kHeadsPerBlock * kKeysPerTile +
                                2 * kHeadsPerBlock);
}

template <typename KT, typename VT>
void launch_split(const AttnParams& p, dim3 grid, cudaStream_t stream) {
  static std::once_flag once;
  std::call_once(once, [] {
    check_cuda(cudaFuncSetAttribute(attention_split_kernel<KT, VT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    int(shared_bytes(kMaxAttentionHeadDim))),
               "attention", "cudaFuncSetAttribute");
  });
  attention_split_kernel<KT, VT><<<grid, kThreads, shared_bytes(p.head_dim), stream>>>(p);
  check_launch("attention", "attention_split_kernel");
}

// fn(float{}), fn(__half{}) or fn(Q8{}) for a cache type (op_checks admits only these).
template <typename F>
void with_cache_type(DType t, F&& fn) {
  if (t == DType::F16) fn(__half{});
  else if (t == DType::Q8_0) fn(Q8{});
  else fn(float{});
}

}  // namespace

void check_attention_kernel_args(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                 const AttentionSpec& spec, const Tensor& out) {
  const int64_t T = q.rows();
  check(spec.head_dim <= kMaxAttentionHeadDim,
        "attention: head_dim " + std::to_string(spec.head_dim) + " exceeds the CUDA kernel's limit of " +
            std::to_string(kMaxAttentionHeadDim));
  check(q.row_stride() % 4 == 0 && out.row_stride() % 4 == 0 &&
            (k_cache.type == DType::Q8_0 || k_cache.row_stride() % int64_t(info(k_cache.type).block_bytes) == 0) &&
            (v_cache.type == DType::Q8_0 || v_cache.row_stride() % int64_t(info(v_cache.type).block_bytes) == 0),
        "attention: row strides must be whole elements");
  check(T * std::max(1, spec.n_head) <= INT32_MAX, "attention: too many query rows");
}

void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, std::span<const int32_t> positions,
               const AttentionSpec& spec, const Tensor& out, cudaStream_t stream, const int32_t* device_positions) {
  const int64_t T = q.rows();
  if (T == 0) return;
  check_attention_kernel_args(q, k_cache, v_cache, spec, out);
  if (!old_kernels_requested() && !(T > kDecodeMaxTokens && old_prefill_attention_requested())) {
    // Prompts on tensor cores first (it declines shapes it does not serve, and LLMR_CUDA_FLASH_MMA=0).
    if (T > kDecodeMaxTokens &&
        attention_prefill_mma(q, k_cache, v_cache, positions, spec, out, stream, device_positions))
      return;
    if (attention_decode(q, k_cache, v_cache, positions, spec, out, stream, device_positions)) return;
  }
  AttnParams p{};
  p.q = static_cast<const float*>(q.data);
  p.q_stride = q.row_stride() / 4;
  p.k = k_cache.data;
  p.k_stride = k_cache.row_stride();
  p.v = v_cache.data;
  p.v_stride = v_cache.row_stride();
  p.out = static_cast<float*>(out.data);
  p.out_stride = out.row_stride() / 4;
  p.T = int(T);
  p.n_head = spec.n_head;
  p.n_kv_head = spec.n_kv_head;
  p.head_dim = spec.head_dim;
  p.group = spec.n_head / spec.n_kv_head;
  p.head_groups = (p.group + kHeadsPerBlock - 1) / kHeadsPerBlock;
  p.scale = spec.scale;
  p.positions = device_positions;
  p.first_pos = positions[0];
  int32_t max_pos = 0;
  for (int32_t pos : positions) max_pos = std::max(max_pos, pos);
  const int64_t max_keys = int64_t(max_pos) + 1;

  // Enough blocks for two waves over the multiprocessors, each split at least 128 keys long.
  const int64_t base_blocks = T * int64_t(spec.n_kv_head) * p.head_groups;
  int64_t n_split = std::max<int64_t>(1, (2 * device_limits("attention").multiprocessors + base_blocks - 1) / base_blocks);
  n_split = std::max<int64_t>(1, std::min(n_split, (max_keys + 127) / 128));
  const int64_t per_split = (max_keys + n_split - 1) / n_split;
  p.keys_per_split = int((per_split + kKeysPerTile - 1) / kKeysPerTile * kKeysPerTile);
  p.n_split = int((max_keys + p.keys_per_split - 1) / p.keys_per_split);
  check(T * p.n_split <= INT32_MAX && int64_t(spec.n_kv_head) * p.head_groups <= 65535,
        "attention: too many blocks for one launch");

  const bool merged = p.n_split > 1;
  StreamScratch part_o(merged ? size_t(T * spec.n_head * p.n_split * spec.head_dim) * 4 : 0, stream, "attention");
  StreamScratch part_ml(merged ? size_t(T * spec.n_head * p.n_split) * sizeof(float2) : 0, stream, "attention");
  p.part_o = part_o.as<float>();
  p.part_ml = part_ml.as<float2>();

  const dim3 grid(unsigned(T * p.n_split), unsigned(spec.n_kv_head * p.head_groups));
  with_cache_type(k_cache.type, [&](auto k) {
    with_cache_type(v_cache.type, [&](auto v) { launch_split<decltype(k), decltype(v)>(p, grid, stream); });
  });
  if (merged) {
    attention_merge_kernel<<<unsigned(T * spec.n_head), std::min(spec.head_dim, 256), 0, stream>>>(p);
    check_launch("attention", "attention_merge_kernel");
  }
}

}  // namespace cuda_ops

void CudaBackend::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                            std::span<const int32_t> positions, const AttentionSpec& spec, const Tensor& out) {
  op_checks::attention(q, k_cache, v_cache, positions, spec, out);
  cuda_detail::check_on_device("attention", {{"q", &q}, {"k_cache", &k_cache}, {"v_cache", &v_cache}, {"out", &out}});
  if (q.rows() == 0) return;
  cuda_ops::keep_pool_memory(device());
  // Consecutive positions (every prompt and decode step) travel as one kernel parameter.
  bool consecutive = true;
  for (size_t i = 1; i < positions.size(); ++i) consecutive = consecutive && positions[i] == positions[0] + int32_t(i);
  const int32_t* dev_pos = consecutive ? nullptr
                                       : static_cast<const int32_t*>(stage(positions.data(),
                                                                           positions.size_bytes(), "attention"));
  cuda_ops::attention(q, k_cache, v_cache, positions, spec, out, stream(), dev_pos);
}

void CudaBackend::attention_from(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& positions,
                                 const AttentionSpec& spec, const Tensor& out) {
  cuda_detail::check_on_device("attention", {{"q", &q}, {"k_cache", &k_cache}, {"v_cache", &v_cache},
                                             {"positions", &positions}, {"out", &out}});
  op_checks::index_tensor("attention", "positions", positions, q.rows());
  if (q.rows() == 0) return;
  check(k_cache.rows() >= 1 && k_cache.rows() <= INT32_MAX, "attention: k_cache " + k_cache.describe() + " has no rows");
  // The launch is sized for the most keys the caches hold (every row's position is taken to be the
  // last row): splits past a row's real position see no keys and drop out of the merge. The kernels
  // read each row's real position from `positions` on the device.
  const std::vector<int32_t> bound(size_t(q.rows()), int32_t(k_cache.rows() - 1));
  op_checks::attention(q, k_cache, v_cache, bound, spec, out);
  cuda_ops::keep_pool_memory(device());
  cuda_ops::attention(q, k_cache, v_cache, bound, spec, out, stream(), static_cast<const int32_t*>(positions.data));
}

}  // namespace llmr
