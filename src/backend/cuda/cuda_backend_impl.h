#pragma once
// CudaBackend: every op of ops/backend.h on one CUDA stream of one device. Op methods are defined one
// family per .cu file (rms_norm.cu, rope.cu, ... and the matmul / attention files); construction,
// memory and errors in cuda_backend.cu. Private to backend/cuda, the GPU tests and the GPU benchmarks.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "ops/backend.h"

namespace llmr {

// Why no CUDA device can be used ("" when one can): the driver's own words, for skip messages.
std::string cuda_unavailable_reason();

// Plain device memory (cudaMalloc), freed on destruction.
class DeviceBytes {
 public:
  DeviceBytes() = default;
  explicit DeviceBytes(size_t bytes);
  ~DeviceBytes();
  DeviceBytes(DeviceBytes&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceBytes& operator=(DeviceBytes&& o) noexcept;
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  void* get() const { return ptr_; }
  size_t size() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;
  std::string name() const override { return "cuda"; }

  std::unique_ptr<Buffer> alloc(DType type, const std::vector<int64_t>& shape) override;
  std::unique_ptr<Buffer> upload(const Tensor& host) override;
  // q4_0 / q4_k matrices regrouped into records of 8 units on the way (weight_regroup.cpp).
  std::unique_ptr<Buffer> upload_matmul_weight(const Tensor& host) override;
  bool upload_copies() const override { return true; }
  void download(const Tensor& src, void* host) override;
  void synchronize() override;

  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override;
  void rms_norm_residual(const Tensor& x, const Tensor& residual, const Tensor& w, float eps,
                         const Tensor& sum, const Tensor& y) override;
  void embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) override;
  void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) override;
  void rope(const Tensor& x, int n_heads, std::span<const int32_t> positions, const RopeSpec& spec) override;
  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, std::span<const int32_t> positions,
                 const AttentionSpec& spec, const Tensor& out) override;
  void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  void add(const Tensor& a, const Tensor& b, const Tensor& out) override;
  void matmul_add(const Tensor& x, const Tensor& w, const Tensor& y) override;
  void rms_norm_matmul(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h, const Tensor& w,
                       const Tensor& y) override;
  void attention_matmul_add(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& positions,
                            const AttentionSpec& spec, const Tensor& attn, const Tensor& w, const Tensor& x) override;
  void rope_store_kv(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions, const RopeSpec& spec,
                     const Tensor& k_cache, const Tensor& v_cache) override;
  void rms_norm_matmul_rope_store_kv(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h,
                                     const Tensor& wqkv, const Tensor& qkv, int64_t kv_dim, const Tensor& positions,
                                     const RopeSpec& spec, const Tensor& k_cache, const Tensor& v_cache) override;
  void swiglu_matmul_add(const Tensor& gate, const Tensor& up, const Tensor& w, const Tensor& y) override;
  void softmax(const Tensor& x) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions) override;
  void embedding_from(const Tensor& table, const Tensor& ids, const Tensor& out) override;
  void rope_from(const Tensor& x, int n_heads, const Tensor& positions, const RopeSpec& spec) override;
  void attention_from(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& positions,
                      const AttentionSpec& spec, const Tensor& out) override;
  void attention_paged(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool, const Tensor& positions,
                       const Tensor& block_table, int64_t block_size, const AttentionSpec& spec,
                       const Tensor& out) override;
  void sample(const Tensor& logits, std::span<const SampleRow> rows, std::span<int32_t> out) override;

  // CUDA graphs: stream capture of the queued ops (relaxed mode), replayed with cudaGraphLaunch.
  std::unique_ptr<Buffer> alloc_host_input(DType type, const std::vector<int64_t>& shape) override;
  Tensor written_from_device(const Tensor& host) override;
  void copy_from_host_input(const Tensor& host, const Tensor& dst) override;
  bool begin_capture() override;
  std::unique_ptr<Replay> end_capture() override;
  void abort_capture() override;
  bool capturing() const { return capturing_; }

  // For the kernels of every op family.
  int device() const { return device_; }
  // The stream, after launching any product held for a norm handoff (norm_handoff.h): every op
  // queues its work through this, so the held product keeps its place in the stream's order.
  cudaStream_t stream() const;
  // The stream with a held product still held: only for the ops that may take it (rms_norm_matmul*).
  cudaStream_t stream_holding() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  const cudaDeviceProp& properties() const { return props_; }

  // Copies `bytes` of host memory to device memory at `device_dst`, ordered on the stream; returns
  // when the host memory may be reused.
  void copy_to_device(void* device_dst, const void* host_src, size_t bytes, const char* op);
  // Copies device memory to the host after all queued work; returns when the host copy is complete.
  void copy_to_host(void* host_dst, const void* device_src, size_t bytes, const char* op);
  // A device copy of a small host array (positions, ids), ordered on the stream: valid for the kernels
  // queued next, until `scratch_bytes` more bytes have been staged. Synchronises with the host (the
  // copy is from pageable memory); hot paths pass such arrays as kernel parameters instead.
  const void* stage(const void* host, size_t bytes, const char* op);
  // A device copy of rope's inv_freq with these values: each distinct table is uploaded once and kept
  // unchanged until the backend goes (recorded graphs hold its address).
  const float* rope_inv_freq(const float* host, int count);

 private:
  void rope_rows_at(const Tensor& x, int n_heads, std::span<const int32_t> positions, const int32_t* device_positions,
                    const RopeSpec& spec);
  // Throws naming `op` while a capture is open: that call would wait on, or bake values into, the graph.
  void check_not_capturing(const char* op) const;

  bool capturing_ = false;
  int capture_norm_sums_slot_ = 0;  // norm_handoff.h's next sum slot when the capture began
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudaDeviceProp props_{};
  DeviceBytes scratch_;
  size_t scratch_used_ = 0;
  struct InvFreqTable {
    std::vector<float> host;
    DeviceBytes device;
  };
  std::vector<InvFreqTable> inv_freq_tables_;
};

}  // namespace llmr
