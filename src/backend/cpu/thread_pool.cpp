#include "backend/cpu/thread_pool.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include <immintrin.h>

namespace llmr::cpu {

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = physical_cores();
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    job_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {

constexpr int kSpins = 2000;    // pauses (~0.1 ms) before a waiting thread starts yielding
constexpr int kYields = 2000;   // yields before a worker sleeps on the condition variable

// Waits until done() holds: spins first (the next loop usually comes within microseconds), then
// yields so that an oversubscribed machine still runs the thread we wait for.
template <typename Done>
bool wait_for(Done done, int yields) {
  for (int i = 0; i < kSpins; ++i) {
    if (done()) return true;
    _mm_pause();
  }
  for (int i = 0; yields < 0 || i < yields; ++i) {
    if (done()) return true;
    std::this_thread::yield();
  }
  return done();
}

}  // namespace

void ThreadPool::run_job(uint32_t job) {
  for (;;) {
    uint64_t t = ticket_.load(std::memory_order_acquire);
    if (uint32_t(t >> 32) != job || (t & 0xFFFF) >= ((t >> 16) & 0xFFFF)) return;
    if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) continue;
    // Claimed chunk (t & 0xFFFF) of `job`: the job cannot finish before this chunk, so its fields hold.
    const int64_t n = n_.load(std::memory_order_relaxed), chunk = chunk_.load(std::memory_order_relaxed);
    const int64_t begin = int64_t(t & 0xFFFF) * chunk;
    (*fn_.load(std::memory_order_relaxed))(begin, std::min(n, begin + chunk));
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = size();
  if (threads == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  // Several chunks per thread balance uneven (or descheduled) cores without many atomic round trips.
  const int64_t chunk = std::max(grain, (n + threads * 4 - 1) / (threads * 4));
  const int64_t chunks = (n + chunk - 1) / chunk;  // <= threads * 4 + 1, far below the 16-bit field
  n_.store(n, std::memory_order_relaxed);
  chunk_.store(chunk, std::memory_order_relaxed);
  fn_.store(&fn, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t job = job_.load(std::memory_order_relaxed) + 1;
  ticket_.store(uint64_t(job) << 32 | uint64_t(chunks) << 16, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_.store(job, std::memory_order_release);
  }
  wake_.notify_all();
  run_job(job);
  wait_for([&] { return done_.load(std::memory_order_acquire) == chunks; }, -1);
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    auto changed = [&] { return job_.load(std::memory_order_acquire) != seen; };
    if (!wait_for(changed, kYields)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, changed);
    }
    seen = job_.load(std::memory_order_acquire);
    if (stop_) return;
    run_job(seen);
  }
}

int ThreadPool::physical_cores() {
  // Count distinct (package, core) pairs from /proc/cpuinfo; fall back to logical CPUs.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  std::string line;
  int phys = 0;
  while (std::getline(in, line)) {
    if (line.rfind("physical id", 0) == 0) phys = std::stoi(line.substr(line.find(':') + 1));
    if (line.rfind("core id", 0) == 0) cores.insert({phys, std::stoi(line.substr(line.find(':') + 1))});
  }
  const int logical = int(std::thread::hardware_concurrency());
  if (cores.empty()) return std::max(1, logical);
  return std::max(1, std::min<int>(int(cores.size()), logical));
}

}  // namespace llmr::cpu
