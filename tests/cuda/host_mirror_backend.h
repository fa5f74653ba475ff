#pragma once
// The backend "cuda" of the shared op batteries (tests/ops/*_test.cpp compiled into test_cuda): it takes
// the batteries' host tensors, mirrors every byte they span (strided rows, the poisoned padding
// between them) into device memory at the same address modulo 256 (so the kernels pick the same
// aligned or unaligned paths), runs the CUDA op on the mirrors and copies every span back. A kernel
// that writes between rows or into an input thus shows on the host exactly as on the CPU; tensors
// that overlap on the host (in-place ops) share one device span.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"

namespace llmr::testing {

class DeviceMirror {
 public:
  // Mirrors the tensors (nullptr entries are skipped) on `cuda`; device(i) is tensor i's device view.
  DeviceMirror(CudaBackend& cuda, std::initializer_list<const Tensor*> host) : cuda_(cuda) {
    for (const Tensor* t : host) views_.push_back(t ? *t : Tensor{});
    std::vector<Span> spans;
    for (size_t i = 0; i < views_.size(); ++i) {
      const Tensor& t = views_[i];
      const size_t bytes = extent(t);
      if (bytes == 0) continue;
      const uintptr_t begin = reinterpret_cast<uintptr_t>(t.data);
      spans.push_back({begin, begin + bytes, {i}, DeviceBytes(), nullptr});
    }
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    for (const Span& s : spans) {
      if (!groups_.empty() && s.begin < groups_.back().end) {  // overlaps the previous span: share it
        groups_.back().end = std::max(groups_.back().end, s.end);
        groups_.back().members.insert(groups_.back().members.end(), s.members.begin(), s.members.end());
      } else {
        groups_.push_back({s.begin, s.end, s.members, DeviceBytes(), nullptr});
      }
    }
    for (Span& g : groups_) {
      const size_t lead = g.begin % 256;
      g.memory = DeviceBytes(g.end - g.begin + 256);
      g.device = static_cast<char*>(g.memory.get()) + lead;
      cuda_.copy_to_device(g.device, reinterpret_cast<const void*>(g.begin), g.end - g.begin, "test mirror");
      for (size_t i : g.members)
        views_[i].data = g.device + (reinterpret_cast<uintptr_t>(views_[i].data) - g.begin);
    }
    for (Tensor& t : views_) t.device = Device::Cuda;
  }

  const Tensor& device(size_t i) const { return views_[i]; }
  const Tensor* device_or_null(size_t i) const { return views_[i].ndim ? &views_[i] : nullptr; }

  // Copies every mirrored span back over the host bytes it came from (after the queued work).
  void download() {
    for (const Span& g : groups_)
      cuda_.copy_to_host(reinterpret_cast<void*>(g.begin), g.device, g.end - g.begin, "test mirror");
    cuda_.synchronize();
  }

 private:
  struct Span {
    uintptr_t begin = 0, end = 0;
    std::vector<size_t> members;
    DeviceBytes memory;
    char* device = nullptr;
  };

  // Bytes from t.data to the end of its last element; 0 for empty or malformed views (the op's own
  // checks then report them). Rows whose length is not a whole number of blocks round up.
  static size_t extent(const Tensor& t) {
    if (t.data == nullptr || t.ndim < 1 || t.ndim > kMaxDims) return 0;
    const auto& ti = info(t.type);
    int64_t bytes = (t.shape[t.ndim - 1] + ti.block_elems - 1) / ti.block_elems * int64_t(ti.block_bytes);
    for (int i = 0; i < t.ndim; ++i) {
      if (t.shape[i] <= 0) return 0;
      if (i + 1 < t.ndim) {
        if (t.stride[i] < 0) return 0;
        bytes += (t.shape[i] - 1) * t.stride[i];
      }
    }
    return size_t(bytes);
  }

  CudaBackend& cuda_;
  std::vector<Tensor> views_;
  std::vector<Span> groups_;
};

class HostMirrorBackend final : public Backend {
 public:
  HostMirrorBackend() : cuda_(std::make_unique<CudaBackend>(0)) {}
  std::string name() const override { return "cuda"; }
  CudaBackend& cuda() { return *cuda_; }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override {
    DeviceMirror m(*cuda_, {&x, &w, &y});
    cuda_->rms_norm(m.device(0), m.device(1), eps, m.device(2));
    m.download();
  }
  void rms_norm_residual(const Tensor& x, const Tensor& residual, const Tensor& w, float eps, const Tensor& sum,
                         const Tensor& y) override {
    DeviceMirror m(*cuda_, {&x, &residual, &w, &sum, &y});
    cuda_->rms_norm_residual(m.device(0), m.device(1), m.device(2), eps, m.device(3), m.device(4));
    m.download();
  }
  void embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) override {
    DeviceMirror m(*cuda_, {&table, &out});
    cuda_->embedding(m.device(0), ids, m.device(1));
    m.download();
  }
  void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) override {
    DeviceMirror m(*cuda_, {&x, &w, bias, &y});
    cuda_->matmul(m.device(0), m.device(1), m.device_or_null(2), m.device(3));
    m.download();
  }
  void swiglu_matmul_add(const Tensor& gate, const Tensor& up, const Tensor& w, const Tensor& y) override {
    DeviceMirror m(*cuda_, {&gate, &up, &w, &y});
    cuda_->swiglu_matmul_add(m.device(0), m.device(1), m.device(2), m.device(3));
    m.download();
  }
  void rms_norm_matmul(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h, const Tensor& w,
                       const Tensor& y) override {
    DeviceMirror m(*cuda_, {&x, &norm_w, &h, &w, &y});
    cuda_->rms_norm_matmul(m.device(0), m.device(1), eps, m.device(2), m.device(3), m.device(4));
    m.download();
  }
  void attention_matmul_add(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& positions,
                            const AttentionSpec& spec, const Tensor& attn, const Tensor& w, const Tensor& x) override {
    DeviceMirror m(*cuda_, {&q, &k_cache, &v_cache, &positions, &attn, &w, &x});
    cuda_->attention_matmul_add(m.device(0), m.device(1), m.device(2), m.device(3), spec, m.device(4), m.device(5),
                                m.device(6));
    m.download();
  }
  void matmul_add(const Tensor& x, const Tensor& w, const Tensor& y) override {
    DeviceMirror m(*cuda_, {&x, &w, &y});
    cuda_->matmul_add(m.device(0), m.device(1), m.device(2));
    m.download();
  }
  void rope(const Tensor& x, int n_heads, std::span<const int32_t> positions, const RopeSpec& spec) override {
    DeviceMirror m(*cuda_, {&x});
    cuda_->rope(m.device(0), n_heads, positions, spec);
    m.download();
  }
  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, std::span<const int32_t> positions,
                 const AttentionSpec& spec, const Tensor& out) override {
    DeviceMirror m(*cuda_, {&q, &k_cache, &v_cache, &out});
    cuda_->attention(m.device(0), m.device(1), m.device(2), positions, spec, m.device(3));
    m.download();
  }
  void attention_paged(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool, const Tensor& positions,
                       const Tensor& block_table, int64_t block_size, const AttentionSpec& spec,
                       const Tensor& out) override {
    DeviceMirror m(*cuda_, {&q, &k_pool, &v_pool, &positions, &block_table, &out});
    cuda_->attention_paged(m.device(0), m.device(1), m.device(2), m.device(3), m.device(4), block_size, spec,
                           m.device(5));
    m.download();
  }
  void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) override {
    DeviceMirror m(*cuda_, {&gate, &up, &out});
    cuda_->swiglu(m.device(0), m.device(1), m.device(2));
    m.download();
  }
  void add(const Tensor& a, const Tensor& b, const Tensor& out) override {
    DeviceMirror m(*cuda_, {&a, &b, &out});
    cuda_->add(m.device(0), m.device(1), m.device(2));
    m.download();
  }
  void softmax(const Tensor& x) override {
    DeviceMirror m(*cuda_, {&x});
    cuda_->softmax(m.device(0));
    m.download();
  }
  void copy(const Tensor& src, const Tensor& dst) override {
    DeviceMirror m(*cuda_, {&src, &dst});
    cuda_->copy(m.device(0), m.device(1));
    m.download();
  }
  void rope_store_kv(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions, const RopeSpec& spec,
                     const Tensor& k_cache, const Tensor& v_cache) override {
    DeviceMirror m(*cuda_, {&q, &k, &v, &positions, &k_cache, &v_cache});
    cuda_->rope_store_kv(m.device(0), m.device(1), m.device(2), m.device(3), spec, m.device(4), m.device(5));
    m.download();
  }
  void rms_norm_matmul_rope_store_kv(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h,
                                     const Tensor& wqkv, const Tensor& qkv, int64_t kv_dim, const Tensor& positions,
                                     const RopeSpec& spec, const Tensor& k_cache, const Tensor& v_cache) override {
    DeviceMirror m(*cuda_, {&x, &norm_w, &h, &wqkv, &qkv, &positions, &k_cache, &v_cache});
    cuda_->rms_norm_matmul_rope_store_kv(m.device(0), m.device(1), eps, m.device(2), m.device(3), m.device(4), kv_dim,
                                         m.device(5), spec, m.device(6), m.device(7));
    m.download();
  }
  void store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions) override {
    DeviceMirror m(*cuda_, {&src, &dst, &positions});
    cuda_->store_rows(m.device(0), m.device(1), m.device(2));
    m.download();
  }

 private:
  std::unique_ptr<CudaBackend> cuda_;
};

// The one instance the batteries share (created on first use, so a machine without a GPU never makes it).
inline HostMirrorBackend& cuda_mirror() {
  static HostMirrorBackend b;
  return b;
}

}  // namespace llmr::testing
