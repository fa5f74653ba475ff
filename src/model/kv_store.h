#pragma once
// Where a forward pass keeps the keys and values of the sequences it runs: a contiguous KvCache for
// one sequence, or the server's paged cache for many.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ops/backend.h"

namespace llmr {

// One sequence's rows of a pass: rows [first_row, first_row + n) of q, k, v, at positions pos0, pos0+1, ...
struct KvRows {
  size_t seq = 0;
  int64_t first_row = 0, n = 0, pos0 = 0;
};

class KvStore {
 public:
  virtual ~KvStore() = default;
  // One layer of a pass: stores every sequence's new keys and values (its rows of k and v), then
  // attn = causal attention of each row of q over its sequence's cached positions. positions[r] is
  // row r's position.
  virtual void attend(Backend& ops, int64_t layer, std::span<const KvRows> seqs, std::span<const int32_t> positions,
                      const AttentionSpec& spec, const Tensor& q, const Tensor& k, const Tensor& v,
                      const Tensor& attn) = 0;
  // Positions sequence `seq` can hold.
  virtual int64_t capacity(size_t seq) const = 0;
};

}  // namespace llmr
