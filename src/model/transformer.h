#pragma once
// The decoder-only transformer forward pass (Llama, Mistral, Qwen2, Qwen3), written as calls to ops.
#include <memory>
#include <span>
#include <vector>

#include "model/kv_cache.h"
#include "model/kv_store.h"
#include "model/model_weights.h"
#include "ops/backend.h"

namespace llmr {

// Which logits a sequence of a forward pass wants back.
enum class LogitRows { None, Last, All };

// New tokens of one sequence at positions pos0, pos0+1, ...; `seq` names it in the KvStore.
struct SequenceChunk {
  std::span<const int32_t> tokens;
  int64_t pos0 = 0;
  size_t seq = 0;
  LogitRows logits = LogitRows::Last;
};

class Transformer {
 public:
  Transformer(const ModelConfig& config, const ModelWeights& weights, Backend& backend);
  ~Transformer();

  // Runs several sequences in one pass: the matmuls over all their rows at once, attention per
  // sequence over its keys in `kv`. Returns host logits, the rows each chunk asked for in chunk
  // order; the view stays valid until the next call.
  Tensor forward(std::span<const SequenceChunk> chunks, KvStore& kv);

  // One sequence: logits [T, vocab] when all_logits, else [1, vocab] for the last token.
  Tensor forward(std::span<const int32_t> tokens, int64_t pos0, KvCache& cache, bool all_logits = false);

  const ModelConfig& config() const { return config_; }
  Backend& backend() { return backend_; }

 private:
  struct Scratch;  // activations for up to `capacity_` rows
  void reserve(int64_t n_rows);
  Tensor place(const Tensor& host_weight);  // the weight in the backend's memory

  const ModelConfig& config_;
  ModelWeights weights_;  // views of the backend's copies (the file's mapping itself on the CPU)
  Backend& backend_;
  std::vector<std::unique_ptr<Buffer>> placed_;
  std::vector<float> inv_freq_;
  std::unique_ptr<Scratch> scratch_;
  int64_t capacity_ = 0;
};

}  // namespace llmr
