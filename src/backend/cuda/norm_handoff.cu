// Held residual products, one a stream (see norm_handoff.h).
#include <atomic>
#include <map>
#include <mutex>

#include "backend/cuda/kernel_status.h"
#include "backend/cuda/norm_handoff.h"
#include "backend/cuda/stream_arena.h"

namespace llmr::cuda_ops {
namespace {

std::mutex held_mutex;
std::atomic<uint64_t> handoffs{0};
std::map<cudaStream_t, HeldProduct>& held() {
  static auto* m = new std::map<cudaStream_t, HeldProduct>;  // never destroyed: backends may outlive statics
  return *m;
}

// Products held on all streams: CudaBackend::stream() asks at every call, and nothing is held then
// most of the time (no lock taken). A stream is driven by one thread at a time, so a zero here cannot
// miss a product held on the asking thread's own stream.
std::atomic<int> held_count{0};

std::optional<HeldProduct> take(cudaStream_t stream) {
  if (held_count.load(std::memory_order_acquire) == 0) return std::nullopt;
  std::lock_guard<std::mutex> lock(held_mutex);
  auto it = held().find(stream);
  if (it == held().end()) return std::nullopt;
  HeldProduct p = it->second;
  held().erase(it);
  held_count.fetch_sub(1, std::memory_order_release);
  return p;
}

}  // namespace

void launch_held(const HeldProduct& p) {
  check(launch_xreg(p.type, p.args, p.shape), "matmul: a held product's shape has no kernel");
  if (p.args.norm_out.g) ++handoffs;
}

bool norm_handoff_enabled() { return switch_on("LLMR_CUDA_NORM_HANDOFF") && stream_arena_enabled(); }

void hold_residual_product(DType type, const XregArgs& args, const XregShape& shape) {
  release_held_product(args.stream);
  std::lock_guard<std::mutex> lock(held_mutex);
  held()[args.stream] = HeldProduct{type, args, shape};  // release_held_product left none for this stream
  held_count.fetch_add(1, std::memory_order_release);
}

void release_held_product(cudaStream_t stream) {
  if (auto p = take(stream)) launch_held(*p);
}

std::optional<HeldProduct> take_held_product(cudaStream_t stream, const float* y, int T, int64_t n_out,
                                             int64_t y_stride) {
  auto p = take(stream);
  if (!p) return std::nullopt;
  const XregArgs& a = p->args;
  if (a.y == y && a.T == T && a.n_out == n_out && (T == 1 || a.y_stride == y_stride)) return p;
  launch_held(*p);
  return std::nullopt;
}

void drop_held_product(cudaStream_t stream) { take(stream); }

uint64_t norm_handoffs() { return handoffs; }

}  // namespace llmr::cuda_ops
