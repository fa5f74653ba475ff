#pragma once
// Private to the CPU backend: the SIMD levels, each op's row kernels per level, and each op run at
// a chosen level (CpuBackend runs active_level(); tests pin every level this machine has).
#include <cstdint>
#include <span>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/thread_pool.h"
#include "ops/backend.h"
#include "tensor/tensor.h"

namespace llmr::cpu {

enum class SimdLevel { Scalar, Avx2, Avx512 };

inline const char* level_name(SimdLevel l) {
  return l == SimdLevel::Avx512 ? "avx512" : l == SimdLevel::Avx2 ? "avx2" : "scalar";
}

// The best level cpu_features() allows (LLMR_CPU_LEVEL caps it).
inline SimdLevel active_level() {
  const CpuFeatures& f = cpu_features();
  return f.avx512 ? SimdLevel::Avx512 : f.avx2 ? SimdLevel::Avx2 : SimdLevel::Scalar;
}

// Every level this process may run, lowest first.
inline std::vector<SimdLevel> available_levels() {
  std::vector<SimdLevel> levels{SimdLevel::Scalar};
  if (cpu_features().avx2) levels.push_back(SimdLevel::Avx2);
  if (cpu_features().avx512) levels.push_back(SimdLevel::Avx512);
  return levels;
}

// Index of a float storage type in the per-type kernel arrays: f32 0, f16 1, bf16 2.
inline int float_type_index(DType t) { return t == DType::F32 ? 0 : t == DType::F16 ? 1 : 2; }

// ---- Row kernels, one table per op and level (defined in <op>_{scalar,avx2,avx512}.cpp) ----

struct RmsNormKernels {
  // y = x * inv_rms(x) * w over one row of n elements of the indexed type.
  void (*row[3])(const void* x, const float* w, void* y, int64_t n, float eps);
  // sum = x + r (rounded to the type), y = rms_norm(sum) * w.
  void (*residual_row[3])(const void* x, const void* r, const float* w, void* sum, void* y, int64_t n, float eps);
};

struct RopeKernels {
  // Rotates the first rot dims of each of n_heads heads of one row. NeoX: cos/sin hold rot/2
  // values; interleaved: rot values, cos repeated per pair and sin as (-s, +s) per pair.
  void (*row)(float* x, int n_heads, int head_dim, int rot, RopeLayout layout, const float* cos,
              const float* sin);
};

struct AttentionKernels {
  // The n_heads query heads (q, head_dim apart) that share one KV head, over cache rows
  // [key_begin, key_end) with online softmax: leaves per head the unnormalised accumulator
  // (acc + i * head_dim), the max score and the sum of exp(score - max). scores is
  // n_heads * kAttentionTile (64) floats of scratch. q8_0 rows (head_dim a multiple of 32) are read a
  // vector at a time, levels widened and scaled. Indexed [kv_type_index(k type)][kv_type_index(v type)].
  void (*group[3][3])(const float* q, int n_heads, const char* k, int64_t k_stride, const char* v,
                      int64_t v_stride, int64_t key_begin, int64_t key_end, int head_dim, float scale,
                      float* acc, float* max_out, float* sum_out, float* scores);
};

// Index of a KV cache type in AttentionKernels: f32 0, f16 1, q8_0 2.
inline constexpr int kv_type_index(DType t) { return t == DType::F32 ? 0 : t == DType::F16 ? 1 : 2; }

struct SwigluKernels {
  void (*row)(const float* gate, const float* up, float* out, int64_t n);
};

struct AddKernels {
  void (*row)(const float* a, const float* b, float* out, int64_t n);
};

struct SoftmaxKernels {
  void (*row)(float* x, int64_t n);
};

struct CopyKernels {
  // Indexed [src type][dst type] by float_type_index.
  void (*row[3][3])(const void* src, void* dst, int64_t n);
};

// Each op's table at a level: <op>_kernels(level) picks one (the scalar table lives in <op>.cpp).
const RmsNormKernels& rms_norm_kernels(SimdLevel level);
const RmsNormKernels& rms_norm_kernels_avx2();
const RmsNormKernels& rms_norm_kernels_avx512();
const RopeKernels& rope_kernels(SimdLevel level);
const RopeKernels& rope_kernels_avx2();
const RopeKernels& rope_kernels_avx512();
const AttentionKernels& attention_kernels(SimdLevel level);
const AttentionKernels& attention_kernels_avx2();
const AttentionKernels& attention_kernels_avx512();
const SwigluKernels& swiglu_kernels(SimdLevel level);
const SwigluKernels& swiglu_kernels_avx2();
const SwigluKernels& swiglu_kernels_avx512();
const AddKernels& add_kernels(SimdLevel level);
const AddKernels& add_kernels_avx2();
const AddKernels& add_kernels_avx512();
const SoftmaxKernels& softmax_kernels(SimdLevel level);
const SoftmaxKernels& softmax_kernels_avx2();
const SoftmaxKernels& softmax_kernels_avx512();
const CopyKernels& copy_kernels(SimdLevel level);
const CopyKernels& copy_kernels_avx2();
const CopyKernels& copy_kernels_avx512();

// ---- The ops at a chosen level: validate, then run the level's kernels on the pool ----

void rms_norm(ThreadPool& pool, SimdLevel level, const Tensor& x, const Tensor& w, float eps, const Tensor& y);
void rms_norm_residual(ThreadPool& pool, SimdLevel level, const Tensor& x, const Tensor& residual,
                       const Tensor& w, float eps, const Tensor& sum, const Tensor& y);
void rope(ThreadPool& pool, SimdLevel level, const Tensor& x, int n_heads, std::span<const int32_t> positions,
          const RopeSpec& spec);
void attention(ThreadPool& pool, SimdLevel level, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
               std::span<const int32_t> positions, const AttentionSpec& spec, const Tensor& out);
void swiglu(ThreadPool& pool, SimdLevel level, const Tensor& gate, const Tensor& up, const Tensor& out);
void add(ThreadPool& pool, SimdLevel level, const Tensor& a, const Tensor& b, const Tensor& out);
void softmax(ThreadPool& pool, SimdLevel level, const Tensor& x);
void copy(ThreadPool& pool, SimdLevel level, const Tensor& src, const Tensor& dst);

}  // namespace llmr::cpu

namespace llmr::cpu {

// The table for `level`, refusing a level this processor (or LLMR_CPU_LEVEL) does not allow.
template <class K>
const K& pick_kernels(SimdLevel level, const K& scalar, const K& (*avx2)(), const K& (*avx512)()) {
  const CpuFeatures& f = cpu_features();
  if (level == SimdLevel::Avx512) {
    check(f.avx512, "cpu: the avx512 kernels are not available on this processor");
    return avx512();
  }
  if (level == SimdLevel::Avx2) {
    check(f.avx2, "cpu: the avx2 kernels are not available on this processor");
    return avx2();
  }
  return scalar;
}

}  // namespace llmr::cpu
