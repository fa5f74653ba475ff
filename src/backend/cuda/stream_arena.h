#pragma once
// Scratch memory that lives with a stream: each (stream, slot) is one device buffer that every op
// taking that slot on that stream reuses. Stream order keeps the uses apart (with programmatic
// dependent launch too: every kernel waits for the one before it before it finishes). Unlike
// StreamScratch (cudaMallocAsync / cudaFreeAsync), taking a slot adds no allocation nodes to a
// captured CUDA graph, so the kernels on either side stay programmatic dependents of each other.
// LLMR_CUDA_ARENA=0 (read at every call) makes the callers use StreamScratch instead, for comparison.
#include <cuda_runtime.h>

#include <cstddef>

namespace llmr::cuda_ops {

// NormedActivations and NormSums: a norm handoff's (norm_handoff.h), beside the held product's own;
// StreamClaims: the claim counters of the streaming GEMV (gemv_plain_stream.cuh), set back by its last warps.
enum class ArenaSlot {
  GemvActivations,
  AttentionPartials,
  AttentionCounters,
  SwigluActivations,
  NormedActivations,
  NormSums,
  StreamClaims,
  Count
};

bool stream_arena_enabled();

// A buffer of at least `bytes` for this stream and slot. A slot that must grow gets a new buffer
// (twice the size at least); the old one stays allocated until release_stream_arena, since graphs
// recorded earlier and queued kernels may still read it.
void* stream_arena(cudaStream_t stream, ArenaSlot slot, size_t bytes, const char* op);

// As stream_arena, for counters that the kernels using them return to zero: a new buffer is zeroed on
// the stream before it is handed out.
void* stream_arena_zeroed(cudaStream_t stream, ArenaSlot slot, size_t bytes, const char* op);

// Frees a stream's buffers; the stream must be idle (its backend is being destroyed).
void release_stream_arena(cudaStream_t stream);

// Scratch for one call: the stream's arena slot, or (LLMR_CUDA_ARENA=0) stream-ordered allocation.
class SlotScratch {
 public:
  SlotScratch(size_t bytes, cudaStream_t stream, ArenaSlot slot, const char* op);
  ~SlotScratch();
  SlotScratch(const SlotScratch&) = delete;
  SlotScratch& operator=(const SlotScratch&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  bool owned_ = false;
  cudaStream_t stream_;
};

}  // namespace llmr::cuda_ops
