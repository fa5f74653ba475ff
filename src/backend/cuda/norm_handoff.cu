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
std::atomic<uint64_t> handoffs{0}, swiglus{0};
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

void launch_held(const HeldProduct& p, const PlainNormOut& plain_out) {
  if (p.gated) return p.gated({});  // no SwiGLU asked for: y as the product writes it
  if (p.plain) {
    p.plain(plain_out);
    if (plain_out.g) ++handoffs;
    return;
  }
  check(launch_xreg(p.type, p.args, p.shape), "matmul: a held product's shape has no kernel");
  if (p.args.norm_out.g) ++handoffs;
}

namespace {

std::map<cudaStream_t, int>& next_slots() {
  static auto* m = new std::map<cudaStream_t, int>;  // never destroyed, as held()
  return *m;
}

static_assert(kNormSumTokens >= kXregMaxTokens, "a sum slot holds every token a handoff takes");
constexpr size_t kSlotDoubles = size_t(kNormSumTokens);

// The stream's two slots, zeroed when first made.
double* norm_sum_slots(cudaStream_t stream) {
  return static_cast<double*>(
      stream_arena_zeroed(stream, ArenaSlot::NormSums, 2 * kSlotDoubles * sizeof(double), "matmul"));
}

}  // namespace

NormSums next_norm_sums(cudaStream_t stream) {
  double* slots = norm_sum_slots(stream);
  std::lock_guard<std::mutex> lock(held_mutex);
  int& next = next_slots()[stream];
  const NormSums sums{slots + size_t(next) * kSlotDoubles, slots + size_t(1 - next) * kSlotDoubles};
  next = 1 - next;
  return sums;
}

int norm_sums_next_slot(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(held_mutex);
  auto it = next_slots().find(stream);
  return it == next_slots().end() ? 0 : it->second;
}

void restore_norm_sums_slot(cudaStream_t stream, int slot) {
  std::lock_guard<std::mutex> lock(held_mutex);
  next_slots()[stream] = slot;
}

void replay_norm_sums(cudaStream_t stream, int before, int after) {
  if (before == after && norm_sums_next_slot(stream) == before) return;  // nothing recorded moved them
  double* slots = norm_sum_slots(stream);
  std::lock_guard<std::mutex> lock(held_mutex);
  int& next = next_slots()[stream];
  if (next != before)
    check_cuda(cudaMemsetAsync(slots + size_t(before) * kSlotDoubles, 0, kSlotDoubles * sizeof(double), stream),
               "matmul", "cudaMemsetAsync (norm sums)");
  next = after;
}

void reset_norm_sums(cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(held_mutex);
    if (next_slots().find(stream) == next_slots().end()) return;  // never used: still zero
  }
  double* slots = norm_sum_slots(stream);
  check_cuda(cudaMemsetAsync(slots, 0, 2 * kSlotDoubles * sizeof(double), stream), "matmul",
             "cudaMemsetAsync (norm sums)");
  std::lock_guard<std::mutex> lock(held_mutex);
  next_slots()[stream] = 0;
}

bool norm_handoff_enabled() { return switch_on("LLMR_CUDA_NORM_HANDOFF") && stream_arena_enabled(); }

bool norm_handoff_y_before_wait() { return switch_on("LLMR_CUDA_Y_BEFORE_WAIT"); }

void hold_residual_product(const HeldProduct& p) {
  release_held_product(p.args.stream);
  std::lock_guard<std::mutex> lock(held_mutex);
  held()[p.args.stream] = p;  // release_held_product left none for this stream
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
  // A gate|up product held for its SwiGLU epilogue is no residual product: it makes no norm.
  if (!held_for_swiglu(*p) && a.y == y && a.T == T && a.n_out == n_out && (T == 1 || a.y_stride == y_stride))
    return p;
  launch_held(*p);
  return std::nullopt;
}

std::optional<HeldProduct> take_held_gate_up(cudaStream_t stream, const float* gate, const float* up, int T,
                                             int64_t half, int64_t stride) {
  auto p = take(stream);
  if (!p) return std::nullopt;
  const XregArgs& a = p->args;
  if (held_for_swiglu(*p) && a.y == gate && up == gate + half && a.T == T && a.n_out == 2 * half &&
      (T == 1 || a.y_stride == stride))
    return p;
  launch_held(*p);
  return std::nullopt;
}

void launch_held_gate_up(const HeldProduct& p, const PlainSwiglu& out) {
  check(bool(p.gated), "matmul: the held product is not a gate|up product");
  p.gated(out);
  ++swiglus;
}

void launch_held_gate_up_xblocks(const HeldProduct& p, XBlock* out) {
  check(p.gate_up, "matmul: the held product is not an integer gate|up product");
  launch_xreg_swiglu(p.type, p.args, out);
  ++swiglus;
}

uint64_t swiglu_epilogues() { return swiglus; }

void drop_held_product(cudaStream_t stream) { take(stream); }

uint64_t norm_handoffs() { return handoffs; }

}  // namespace llmr::cuda_ops
