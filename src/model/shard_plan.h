#pragma once
// Megatron-style tensor-parallel sharding of a model over N ranks. Every weight is [out, in]:
//   column-parallel (split the output dim = rows of the weight, zero-copy views of the mapping):
//     wq, wk, wv by whole KV groups of heads; w_gate, w_up by FFN rows; token_embd and output by
//     vocabulary; bq, bk, bv with their weights;
//   row-parallel (split the input dim = columns of the weight, copied since rows are contiguous):
//     wo by the rank's q heads, w_down by the rank's FFN rows; their partial products are summed
//     across ranks (two all-reduces per layer);
//   replicated: attn_norm, ffn_norm, output_norm, q_norm and k_norm (these act per head_dim, the
//     same on every head), rope_freq_factors.
#include <cstdint>
#include <memory>
#include <vector>

#include "model/model_config.h"
#include "model/model_weights.h"

namespace llmr {

// The contiguous part of each split dimension that one rank holds.
struct RankSlice {
  int64_t head_begin = 0, n_head = 0;        // query heads
  int64_t kv_head_begin = 0, n_head_kv = 0;  // key/value heads (whole GQA groups)
  int64_t ff_begin = 0, n_ff = 0;            // FFN hidden rows
  int64_t vocab_begin = 0, n_vocab = 0;      // vocabulary rows (the last ranks may hold one fewer)
};

class ShardPlan {
 public:
  // Throws Error when the model cannot be split N ways: n_head_kv or n_ff not divisible by N,
  // a vocabulary smaller than N, or a row-parallel (column-split) quantized weight whose split
  // falls inside a quantization block.
  ShardPlan(const ModelConfig& config, const ModelWeights& weights, int n_ranks);

  int n_ranks() const { return int(slices_.size()); }
  const RankSlice& slice(int rank) const { return slices_.at(size_t(rank)); }
  // The config of one rank's shard: heads, kv heads, n_ff and vocabulary cut to the rank's part.
  ModelConfig rank_config(int rank) const;
  const ModelConfig& config() const { return config_; }

 private:
  ModelConfig config_;
  std::vector<RankSlice> slices_;
};

// One rank's weights: views into the original tensors where rows are split, owned copies where
// columns are split. Valid while the original ModelWeights (and its mapping) lives.
struct ShardedWeights {
  ModelConfig config;        // ShardPlan::rank_config(rank)
  ModelWeights weights;      // shaped for `config`; weights.owned holds the column-split copies
  bool tied = false;         // output shares token_embd's shard
};

ShardedWeights shard_weights(const ShardPlan& plan, const ModelWeights& full, int rank);

// Building blocks, exposed for tests. rows: a zero-copy view of rows [begin, begin+count) of a
// 2-D weight or 1-D vector. cols: an owned copy of columns [begin, begin+count) of a 2-D weight;
// throws Error naming `what` if begin or count is not a whole number of quantization blocks.
Tensor shard_rows(const Tensor& t, int64_t begin, int64_t count);
Tensor shard_cols(const Tensor& t, int64_t begin, int64_t count, const std::string& what,
                  std::vector<std::unique_ptr<HostBuffer>>& owned);

}  // namespace llmr
