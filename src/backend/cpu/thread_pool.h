#pragma once
// A fixed pool of worker threads for the CPU kernels. Workers spin briefly before sleeping, since
// a generation step issues many small parallel loops back to back.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace llmr::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads includes the calling thread; <= 0 = physical cores
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), each at least `grain` long, on all
  // threads; returns when every chunk is done. Not reentrant.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // Number of physical cores of this machine (logical CPUs when that cannot be read).
  static int physical_cores();

 private:
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> busy_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<bool> stop_{false};
  int64_t n_ = 0, chunk_ = 1;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
};

}  // namespace llmr::cpu
