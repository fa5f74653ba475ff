#pragma once
// Where a forward pass keeps the keys and values of the sequences it runs: a contiguous KvCache for
// one sequence, or the server's paged cache for many.
#include <cstddef>
#include <utility>

#include "ops/backend.h"

namespace llmr {

class KvStore {
 public:
  virtual ~KvStore() = default;
  // Writes k and v, the rows of positions pos0, pos0+1, ... of sequence `seq`, into layer `layer`.
  virtual void store(Backend& ops, int64_t layer, size_t seq, int64_t pos0, const Tensor& k, const Tensor& v) = 0;
  // Keys and values of positions [0, rows) of sequence `seq` in layer `layer`, as contiguous views.
  virtual std::pair<Tensor, Tensor> view(Backend& ops, int64_t layer, size_t seq, int64_t rows) = 0;
  // Positions sequence `seq` can hold.
  virtual int64_t capacity(size_t seq) const = 0;
};

}  // namespace llmr
