#pragma once
// The plain-weight matrix-vector kernel for one token and many rows (F16's gate|up and output head),
// as one wave of warps that each stream a list of rows: warp k of the grid's W takes items k, k + W, ...
// (an item: a row, or with a SwiGLU epilogue gate row j and up row half + j; the last, partial round
// spread over the blocks), read in passes of V 16-byte loads a lane, two passes in flight, the next
// row's first pass issued while this row is finished. The many-wave kernel (gemv_plain.cuh) stops each
// warp's loads at its row's end and again at its block's exit and the next block's start; here a
// warp's loads never stop until its last row.
// With claims (a product of three rounds or more), the last one to two rounds of items are not dealt
// out: warps claim them one at a time from counters shared by a group of blocks (StreamClaims), the
// next claim asked for as the item before it is begun, so the warps that run slow take fewer of them.
// Each lane takes its vectors in the many-wave kernel's order, so the sums are the same bits (and the
// same whichever warp takes an item).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/gemv_plain.cuh"
#include "backend/cuda/warp_timeline.cuh"

namespace llmr::cuda_ops::plain {

// Claim counters: group c (the blocks b with b % groups == c) claims from claims[c * kLine] and counts
// its warps that found no item left at claims[(groups + c) * kLine]; the warp that completes that count
// sets both back to zero for the next launch. groups divides the grid; null claims: every item dealt.
struct StreamClaims {
  unsigned* counters = nullptr;
  int groups = 0;                    // at most kMaxGroups
  static constexpr int kMaxGroups = 8;
  static constexpr int kLine = 32;  // counters a 128-byte line apart
};

// Where a warp's next pass is: which item, which of its rows (half), which pass of the row.
struct StreamCursor {
  const uint4* row;  // the row's first vector
  int64_t item;
  int pass;
  int half;  // 1: the up row of a SwiGLU item
};

template <DType W, int V>
__global__ void __launch_bounds__(kThreads)
gemv_plain_stream_kernel(const uint8_t* __restrict__ w, int64_t w_stride, int64_t n_out, int64_t vecs,
                         const float* __restrict__ x, const float* __restrict__ bias, float* __restrict__ y,
                         NormScale norm_scale, PlainSwiglu swiglu, bool spread_last_round, StreamClaims claims) {
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) / 32;
  timeline::WarpClock clock;
  clock.begin();
  const int64_t warps = int64_t(gridDim.x) * kWarps;
  const bool gated = swiglu.out != nullptr;
  const int64_t half_rows = n_out / 2;
  const int64_t items = gated ? half_rows : n_out;
  const int passes = int(vecs / (32 * V));  // the launcher asks for whole passes
  const int64_t stride_vecs = w_stride / 16;
  const uint4* w0 = reinterpret_cast<const uint4*>(w);
  const int64_t up_step = half_rows * stride_vecs;  // gate row j to up row j
  const uint64_t policy = staged::evict_first_policy();

  // The last round of items (fewer than the warps) goes to warps spread over the blocks, warp w of
  // every block before warp w + 1 of any: otherwise its items fill the first blocks, and the
  // multiprocessors holding two of those carry a whole item a warp more than the others.
  const int64_t full_rounds_end = items / warps * warps;
  const int64_t rank_in_last_round = int64_t(warp) * gridDim.x + blockIdx.x;
  auto placed = [&](int64_t item, int64_t before) {  // `item` reached from `before` (-1: the first)
    const bool enters_last_round = item >= full_rounds_end && before < full_rounds_end;
    return spread_last_round && enters_last_round ? full_rounds_end + rank_in_last_round : item;
  };
  // Claimed items: from dealt_end on, item dealt_end + j * groups + c is group c's claim j.
  const bool claiming = claims.counters != nullptr;
  const int64_t dealt_end = claiming ? (items / warps - 1) * warps : items;
  const int group = claiming ? int(blockIdx.x) % claims.groups : 0;
  unsigned* const claim_counter = claims.counters + group * StreamClaims::kLine;
  unsigned* const empty_counter = claims.counters + (claims.groups + group) * StreamClaims::kLine;
  unsigned claimed = 0;  // lane 0: the claim asked for last, its answer not yet used
  auto next_item = [&](int64_t item) -> int64_t {
    if (!claiming) return placed(item + warps, item);
    if (item >= items) return items;  // past its last item the cursor still steps: no claim, no count
    if (item + warps < dealt_end) return item + warps;
    const int64_t mine = dealt_end + int64_t(__shfl_sync(0xFFFFFFFFu, claimed, 0)) * claims.groups + group;
    if (mine < items) {
      if (lane == 0) claimed = atomicAdd(claim_counter, 1u);  // the next one, answered while this item streams
      return mine;
    }
    // None left for the group: the last of its warps to find so sets its counters back for the next launch.
    if (lane == 0 && atomicAdd(empty_counter, 1u) == unsigned(gridDim.x / claims.groups * kWarps) - 1) {
      atomicExch(claim_counter, 0u);
      atomicExch(empty_counter, 0u);
    }
    return items;
  };
  const int64_t first = placed(int64_t(blockIdx.x) * kWarps + warp, -1);  // this warp's first item
  StreamCursor next{w0 + first * stride_vecs, first, 0, 0};
  auto step = [&](StreamCursor& c) {
    if (++c.pass < passes) return;
    c.pass = 0;
    if (gated && c.half == 0) {
      c.half = 1;
      c.row += up_step;
      return;
    }
    c.half = 0;
    c.item = next_item(c.item);
    c.row = w0 + c.item * stride_vecs;
  };
  auto load = [&](uint4 (&r)[V], const StreamCursor& c) {
    if (c.item < items) load_pass(r, c.row, int64_t(c.pass) * 32 * V, vecs, lane, policy);
  };

  uint4 a[V], b[V];
  StreamCursor ca = next;
  load(a, next);
  step(next);
  StreamCursor cb = next;
  load(b, next);
  step(next);
  // Both first passes are weights only, issued before waiting for the kernel before.
  pdl_wait();
  clock.inputs_ready();
  pdl_release();  // one wave: the next kernel's blocks take the places this grid's warps leave
  // The first claim, after the wait: the counters' last user set them back before it finished.
  if (claiming && lane == 0) claimed = atomicAdd(claim_counter, 1u);
  const double norm_sum = norm_scale.sum ? __ldcg(norm_scale.sum) : 0.0;
  const float inv_rms =
      norm_scale.sum ? float(1.0 / sqrt(norm_sum / double(norm_scale.n) + double(norm_scale.eps))) : 1.f;

  float acc[1] = {0.f};
  float gate = 0.f;  // a SwiGLU item's gate row, kept while its up row streams
  // The sum of a row whose last pass was just taken: written, or kept as the gate, or paired.
  auto finish_row = [&](const StreamCursor& c) {
    float s = staged::warp_sum(acc[0]);
    acc[0] = 0.f;
    if (norm_scale.sum) s *= inv_rms;
    const int64_t row = c.item + (c.half ? half_rows : 0);
    s += bias ? bias[row] : 0.f;  // as the many-wave kernel adds it, signed zeros included
    if (!gated) {
      if (lane == 0) y[row] = s;
    } else if (c.half == 0) {
      gate = s;
    } else if (lane == 0) {
      swiglu.out[c.item] = silu_mul(gate, s);
    }
  };
  // The two slots written out by name (registers cannot be indexed at run time): take one, refill it
  // with the pass after the other's.
  for (;;) {
    if (ca.item >= items) break;
    take_pass<W, 1, V>(a, int64_t(ca.pass) * 32 * V, vecs, lane, x, 0, 1, acc);
    if (ca.pass == passes - 1) finish_row(ca);
    ca = next;
    load(a, next);
    step(next);
    if (cb.item >= items) break;
    take_pass<W, 1, V>(b, int64_t(cb.pass) * 32 * V, vecs, lane, x, 0, 1, acc);
    if (cb.pass == passes - 1) finish_row(cb);
    cb = next;
    load(b, next);
    step(next);
  }
  clock.finish(lane, warp, uint32_t(n_out), uint32_t(vecs));
}

}  // namespace llmr::cuda_ops::plain
