#pragma once
// The CPU backend: SIMD kernels (AVX2+FMA baseline, AVX-512 where present, scalar fallback)
// chosen at run time by CPUID, run on a thread pool. One file per op family.
#include <memory>

#include "backend/cpu/thread_pool.h"
#include "ops/backend.h"

namespace llmr {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads = 0);  // 0 = physical cores
  std::string name() const override { return "cpu"; }
  cpu::ThreadPool& pool() { return pool_; }

  // Q8_0 / Q4_0 / Q4_K matrices repacked to Q8_0R / Q4_0R / Q4_KR at load where the AVX-512 kernels run
  // (weight_repack.cpp). On by default; LLMR_CPU_REPACK=0 turns it off (for A/B measurements).
  std::unique_ptr<Buffer> upload_matmul_weight(const Tensor& host) override;
  void set_repack_weights(bool on) { repack_weights_ = on; }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override;
  void rms_norm_residual(const Tensor& x, const Tensor& residual, const Tensor& w, float eps,
                         const Tensor& sum, const Tensor& y) override;
  void embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) override;
  void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) override;
  void matmul_add(const Tensor& x, const Tensor& w, const Tensor& y) override;
  void swiglu_matmul_add(const Tensor& gate, const Tensor& up, const Tensor& w, const Tensor& y) override;
  void rope(const Tensor& x, int n_heads, std::span<const int32_t> positions,
            const RopeSpec& spec) override;
  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                 std::span<const int32_t> positions, const AttentionSpec& spec,
                 const Tensor& out) override;
  void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  void add(const Tensor& a, const Tensor& b, const Tensor& out) override;
  void softmax(const Tensor& x) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions) override;

 private:
  cpu::ThreadPool pool_;
  bool repack_weights_;
};

}  // namespace llmr
