#pragma once
// Several sequences in one step on the paged KV cache: the Transformer's forward pass, with each
// sequence's keys and values in the blocks of its block table.
#include <memory>
#include <span>
#include <vector>

#include "model/transformer.h"
#include "runtime/paged_kv.h"

namespace llmr {

struct BatchItem {
  std::span<const int32_t> tokens;  // new tokens of this sequence, at positions pos0, pos0+1, ...
  int64_t pos0 = 0;
  std::span<const int32_t> blocks;  // the sequence's block table; covers pos0 + tokens.size()
  bool want_logits = false;         // logits of its last token
};

class BatchedForward {
 public:
  explicit BatchedForward(Transformer& model) : model_(model) {}

  // Writes each item's keys and values into its blocks and returns logits [n, vocab] (in host memory
  // unless `at` says otherwise), one row per item with want_logits, in item order; the view stays
  // valid until the next call.
  Tensor forward(std::span<const BatchItem> items, PagedKvCache& cache, LogitsAt at = LogitsAt::Host);

  const ModelConfig& config() const { return model_.config(); }

 private:
  // An I32 tensor in the backend's memory with at least `count` entries, filled from host memory.
  struct IndexBuffer {
    std::unique_ptr<Buffer> host, device;
    Tensor upload(Backend& ops, std::span<const int32_t> values, const std::vector<int64_t>& shape);
  };

  Transformer& model_;
  IndexBuffer slots_, positions_, tables_;  // one step's KV rows to write, row positions, block tables
};

}  // namespace llmr
