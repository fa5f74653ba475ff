#pragma once
// The transformer forward pass over several sequences in one step, on a paged KV cache: the
// matmuls run over all rows of all sequences at once, attention runs per sequence over its blocks.
// Same ops in the same order as Transformer::forward, so one sequence gives the same logits.
#include <memory>
#include <span>
#include <vector>

#include "model/model_weights.h"
#include "ops/backend.h"
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
  BatchedForward(const ModelConfig& config, const ModelWeights& weights, Backend& backend);
  ~BatchedForward();

  // Writes each item's keys and values into its blocks and returns host logits [n, vocab], one row
  // per item with want_logits, in item order; the view stays valid until the next call.
  Tensor forward(std::span<const BatchItem> items, PagedKvCache& cache);

  const ModelConfig& config() const { return config_; }

 private:
  struct Scratch;
  void reserve(int64_t n_tokens, int64_t n_out, int64_t kv_rows, DType kv_type);
  Tensor place(const Tensor& host_weight);
  // A contiguous [rows, kv_dim] view of one sequence's blocks of `pool` (gathered if they are scattered).
  Tensor kv_view(const Tensor& pool, std::span<const int32_t> blocks, int64_t rows, int64_t block_size,
                 const Tensor& scratch);

  const ModelConfig& config_;
  ModelWeights weights_;
  Backend& backend_;
  std::vector<std::unique_ptr<Buffer>> placed_;
  std::vector<float> inv_freq_;
  std::unique_ptr<Scratch> scratch_;
  int64_t capacity_ = 0, out_capacity_ = 0, kv_capacity_ = 0;
};

}  // namespace llmr
