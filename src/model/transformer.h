#pragma once
// The decoder-only transformer forward pass (Llama, Mistral, Qwen2, Qwen3), written as calls to ops.
#include <span>
#include <vector>

#include "model/kv_cache.h"
#include "model/model_weights.h"
#include "ops/backend.h"

namespace llmr {

class Transformer {
 public:
  Transformer(const ModelConfig& config, const ModelWeights& weights, Backend& backend);

  // Runs tokens at positions pos0, pos0+1, ... through the model, storing their keys and values in
  // cache (made with this transformer's backend). Returns logits in host memory, [T, vocab] when
  // all_logits, else [1, vocab] for the last token; the view stays valid until the next call.
  Tensor forward(std::span<const int32_t> tokens, int64_t pos0, KvCache& cache, bool all_logits = false);

  const ModelConfig& config() const { return config_; }
  Backend& backend() { return backend_; }

 private:
  struct Scratch;  // activations for up to `capacity` tokens
  void reserve(int64_t n_tokens);
  Tensor place(const Tensor& host_weight);  // the weight in the backend's memory

  const ModelConfig& config_;
  ModelWeights weights_;  // views of the backend's copies (the file's mapping itself on the CPU)
  Backend& backend_;
  std::vector<std::unique_ptr<Buffer>> placed_;
  std::vector<float> inv_freq_;
  std::unique_ptr<Scratch> scratch_;
  int64_t capacity_ = 0;

 public:
  ~Transformer();
};

}  // namespace llmr
