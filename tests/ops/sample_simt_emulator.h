#pragma once
// Just enough of CUDA to run backend/cuda/sample_kernel.cuh on the host: one OS thread per CUDA thread
// of one block, __syncthreads as a barrier of the block, warp shuffles / votes as an exchange between
// the warp's 32 threads between two barriers of the warp, shared memory as statics (one block runs at
// a time), atomics as std::atomic_ref, and the _rn intrinsics as the plain float operations they round
// like (this file compiles without FMA contraction). Every lane must reach each warp intrinsic, as the
// kernel's full masks promise.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace llmr::simt {

struct Index {
  unsigned x = 0;
};

struct Block {
  explicit Block(int threads) : all(threads) {
    for (int w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<Warp>());
  }
  struct Warp {
    std::barrier<> sync{32};
    uint64_t slots[32] = {};
  };
  std::barrier<> all;
  std::vector<std::unique_ptr<Warp>> warps;
};

inline thread_local Index threadIdx, blockIdx;
inline Index blockDim;
inline Block* current = nullptr;

// Runs kernel(args...) as `threads` threads of one block numbered `block`.
template <typename Kernel, typename... Args>
void run_block(int threads, unsigned block, Kernel kernel, Args... args) {
  Block b(threads);
  current = &b;
  blockDim.x = unsigned(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([=] {
      threadIdx.x = unsigned(t);
      blockIdx.x = block;
      kernel(args...);
    });
  for (auto& t : pool) t.join();
  current = nullptr;
}

// Every lane posts `v`, then reads lane `from`'s post.
template <typename T>
T exchange(T v, int from) {
  static_assert(sizeof(T) <= 8);
  Block::Warp& w = *current->warps[threadIdx.x / 32];
  const int lane = int(threadIdx.x % 32);
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  w.slots[lane] = bits;
  w.sync.arrive_and_wait();
  bits = w.slots[from];
  w.sync.arrive_and_wait();
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

}  // namespace llmr::simt

using llmr::simt::blockDim;
using llmr::simt::blockIdx;
using llmr::simt::threadIdx;

#define __global__
#define __device__
#define __forceinline__
#define __launch_bounds__(n)
#define __shared__ static

inline void __syncthreads() { llmr::simt::current->all.arrive_and_wait(); }
template <typename T>
T __shfl_xor_sync(unsigned, T v, int offset) {
  return llmr::simt::exchange(v, int(threadIdx.x % 32) ^ offset);
}
template <typename T>
T __shfl_up_sync(unsigned, T v, int offset) {
  const int lane = int(threadIdx.x % 32);
  return llmr::simt::exchange(v, lane >= offset ? lane - offset : lane);
}
template <typename T>
T __shfl_sync(unsigned, T v, int from) {
  return llmr::simt::exchange(v, from);
}
inline unsigned __ballot_sync(unsigned, int predicate) {
  llmr::simt::Block::Warp& w = *llmr::simt::current->warps[threadIdx.x / 32];
  w.slots[threadIdx.x % 32] = predicate ? 1 : 0;
  w.sync.arrive_and_wait();
  unsigned bits = 0;
  for (int lane = 0; lane < 32; ++lane) bits |= (w.slots[lane] ? 1u : 0u) << lane;
  w.sync.arrive_and_wait();
  return bits;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(unsigned x) { return __builtin_ffs(int(x)); }
inline int __clz(unsigned x) { return x == 0 ? 32 : __builtin_clz(x); }
inline int min(int a, int b) { return std::min(a, b); }

template <typename T>
T atomicAdd(T* address, T v) {
  return std::atomic_ref<T>(*address).fetch_add(v);
}

inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline int __float2int_rz(float f) { return int(f); }
inline float __int2float_rn(int i) { return float(i); }
inline float __uint_as_float(uint32_t u) { return std::bit_cast<float>(u); }
inline uint32_t __float_as_uint(float f) { return std::bit_cast<uint32_t>(f); }
inline float __double2float_rn(double d) { return float(d); }
inline unsigned long long __double2ull_rn(double d) { return (unsigned long long)std::nearbyint(d); }
