#pragma once
// The collectives a tensor-parallel forward needs, seen from one rank (like an NCCL communicator):
// every rank of a group calls each collective in the same order. InProcessGroup implements them for
// ranks that are threads of one process sharing host memory (tests and a CPU degree-N path);
// runtime/tp_nccl.h describes the NCCL implementation for GPUs.
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "tensor/tensor.h"

namespace llmr {

class AllReduce {
 public:
  virtual ~AllReduce() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place: x (f32 [rows, cols], the same shape on every rank) becomes the elementwise sum of
  // every rank's x, added in rank order 0, 1, ..., N-1 so all ranks hold identical bits.
  virtual void sum(const Tensor& x) = 0;
  // Each rank passes its f32 [rows, cols_r] slice and the column where it starts; on return every
  // rank's `full` (host f32 [rows, sum of cols_r]) holds all the slices side by side.
  virtual void gather_columns(const Tensor& local, int64_t col_begin, const Tensor& full) = 0;
};

// N ranks as threads of this process. Rank handles come from rank(r); each must be used by one
// thread. If a rank fails, it calls abort() and the others' collectives throw instead of waiting.
class InProcessGroup {
 public:
  explicit InProcessGroup(int n_ranks);
  ~InProcessGroup();
  int size() const { return n_; }
  AllReduce& rank(int r);
  void abort();
  void reset();  // clears an abort; call only when no rank is inside a collective

 private:
  class Rank;
  friend class Rank;
  void barrier();  // all n_ ranks meet here; throws Error if the group was aborted
  int n_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::vector<Tensor> posted_;     // each rank's tensor for the collective in progress
  std::vector<int64_t> posted_col_;
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  uint64_t generation_ = 0;
  bool aborted_ = false;
};

}  // namespace llmr
