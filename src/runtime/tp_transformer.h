#pragma once
// The transformer forward pass over N tensor-parallel ranks (model/shard_plan.h says how weights
// are split). Each rank runs the same ops as model/transformer.cpp on its shard, on its own thread
// and Backend; partial products are summed by AllReduce after the embedding lookup, the attention
// output and the FFN down projections, and the vocabulary-split logits are gathered. Degree 1 runs
// the same path with one rank (every collective is then a no-op).
#include <memory>
#include <span>
#include <vector>

#include "model/kv_cache.h"
#include "model/shard_plan.h"
#include "ops/backend.h"
#include "runtime/tp_all_reduce.h"

namespace llmr {

// One KvCache per rank, each holding that rank's KV heads.
class TpKvCache {
 public:
  int64_t n_ctx() const { return ranks_.front()->n_ctx(); }
  KvCache& rank(int r) { return *ranks_.at(size_t(r)); }
  int degree() const { return int(ranks_.size()); }

 private:
  friend class TensorParallelTransformer;
  std::vector<std::unique_ptr<KvCache>> ranks_;
};

class TensorParallelTransformer {
 public:
  // One backend per rank, distinct objects (ranks run concurrently). Throws Error when the model
  // cannot be split backends.size() ways (see ShardPlan).
  TensorParallelTransformer(const ModelConfig& config, const ModelWeights& weights, std::vector<Backend*> backends);
  ~TensorParallelTransformer();

  // As Transformer::forward: logits [T, vocab] (all_logits) or [1, vocab] in host memory, valid
  // until the next call.
  Tensor forward(std::span<const int32_t> tokens, int64_t pos0, TpKvCache& cache, bool all_logits = false);

  std::unique_ptr<TpKvCache> new_cache(int64_t n_ctx, DType type = DType::F16) const;
  const ModelConfig& config() const { return config_; }
  const ShardPlan& plan() const { return plan_; }
  int degree() const { return plan_.n_ranks(); }
  // Seconds spent inside collectives by rank 0 since construction (all-reduce cost, for benchmarks).
  double collective_seconds() const { return collective_seconds_; }

 private:
  struct Rank;
  void rank_forward(int r, std::span<const int32_t> tokens, int64_t pos0, KvCache& cache, bool all_logits);

  const ModelConfig& config_;
  ShardPlan plan_;
  InProcessGroup group_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::vector<float> inv_freq_;
  double collective_seconds_ = 0;
};

}  // namespace llmr
