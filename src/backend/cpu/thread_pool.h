#pragma once
// A fixed pool of worker threads for the CPU kernels. Workers spin briefly, then yield, then sleep,
// since a generation step issues many small parallel loops back to back but a loaded machine needs
// its cores back. The caller never waits for a worker that has not started: chunks are claimed from
// a ticket tagged with the job, so a late worker finds nothing left and the caller's done count alone
// ends the loop.
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
  void run_job(uint32_t job);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint32_t> job_{0};      // id of the latest job; workers wake when it changes
  std::atomic<bool> stop_{false};
  // job id << 32 | chunk count << 16 | next chunk: a claim succeeds only for the job it was read for.
  alignas(64) std::atomic<uint64_t> ticket_{0};
  alignas(64) std::atomic<int64_t> done_{0};  // chunks finished of the current job
  // The current job; read only after a successful claim, when the job cannot have finished.
  alignas(64) std::atomic<int64_t> n_{0}, chunk_{1};
  std::atomic<const std::function<void(int64_t, int64_t)>*> fn_{nullptr};
};

}  // namespace llmr::cpu
