// Per-stream scratch slots (see stream_arena.h).
#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "backend/cuda/kernel_status.h"
#include "backend/cuda/stream_arena.h"

namespace llmr::cuda_ops {
namespace {

struct Slot {
  void* ptr = nullptr;
  size_t bytes = 0;
};

struct StreamSlots {
  Slot slots[size_t(ArenaSlot::Count)];
  std::vector<void*> retired;  // outgrown buffers, freed with the stream's
};

std::mutex arena_mutex;
std::map<cudaStream_t, StreamSlots>& arenas() {
  static auto* m = new std::map<cudaStream_t, StreamSlots>;  // never destroyed: backends may outlive statics
  return *m;
}

}  // namespace

bool stream_arena_enabled() {
  return switch_on("LLMR_CUDA_ARENA");
}

namespace {

// The slot's buffer, grown to `bytes`; `fresh_bytes` is the new buffer's size where it was just allocated, else 0.
void* take_slot(cudaStream_t stream, ArenaSlot slot, size_t bytes, const char* op, size_t& fresh_bytes) {
  fresh_bytes = 0;
  if (bytes == 0) return nullptr;
  std::lock_guard<std::mutex> lock(arena_mutex);
  StreamSlots& s = arenas()[stream];
  Slot& b = s.slots[size_t(slot)];
  if (b.bytes < bytes) {
    const size_t grown = std::max(bytes, 2 * b.bytes);
    void* p = nullptr;
    // On the current device, which is the stream's (its kernels are launched there; cudaStreamGetDevice
    // is refused while the stream is captured). cudaMalloc is no stream operation: allowed then.
    check_cuda(cudaMalloc(&p, grown), op, "cudaMalloc (stream arena)");
    if (b.ptr) s.retired.push_back(b.ptr);
    b = {p, grown};
    fresh_bytes = grown;
  }
  return b.ptr;
}

}  // namespace

void* stream_arena(cudaStream_t stream, ArenaSlot slot, size_t bytes, const char* op) {
  size_t fresh_bytes = 0;
  return take_slot(stream, slot, bytes, op, fresh_bytes);
}

void* stream_arena_zeroed(cudaStream_t stream, ArenaSlot slot, size_t bytes, const char* op) {
  size_t fresh_bytes = 0;
  void* p = take_slot(stream, slot, bytes, op, fresh_bytes);
  if (fresh_bytes) check_cuda(cudaMemsetAsync(p, 0, fresh_bytes, stream), op, "cudaMemsetAsync (stream arena)");
  return p;
}

void release_stream_arena(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(arena_mutex);
  auto it = arenas().find(stream);
  if (it == arenas().end()) return;
  for (const Slot& b : it->second.slots)
    if (b.ptr) cudaFree(b.ptr);
  for (void* p : it->second.retired) cudaFree(p);
  arenas().erase(it);
}

SlotScratch::SlotScratch(size_t bytes, cudaStream_t stream, ArenaSlot slot, const char* op) : stream_(stream) {
  if (bytes == 0) return;
  if (stream_arena_enabled()) {
    ptr_ = stream_arena(stream, slot, bytes, op);
  } else {
    check_cuda(cudaMallocAsync(&ptr_, bytes, stream), op, "cudaMallocAsync (scratch)");
    owned_ = true;
  }
}

SlotScratch::~SlotScratch() {
  if (owned_) cudaFreeAsync(ptr_, stream_);
}

}  // namespace llmr::cuda_ops
