#pragma once
// Prompt in, tokens out, for one sequence: prefill in chunks, then one decode step per token.
#include <chrono>
#include <functional>
#include <span>
#include <vector>

#include "model/transformer.h"
#include "runtime/sampler.h"

namespace llmr {

struct GenerationStats {
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double prompt_seconds = 0, generation_seconds = 0;
  double prompt_tokens_per_second() const { return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0; }
  double generation_tokens_per_second() const {
    return generation_seconds > 0 ? generated_tokens / generation_seconds : 0;
  }
};

// One forward step of some model: tokens at positions pos0, pos0+1, ... in, host logits of the last
// token out ([1, vocab]).
using ForwardStep = std::function<Tensor(std::span<const int32_t> tokens, int64_t pos0)>;

class Generator {
 public:
  // A model of n_vocab tokens whose context holds n_ctx positions, driven through `step`.
  Generator(ForwardStep step, int64_t n_vocab, int64_t n_ctx, const SamplingParams& sampling, int64_t batch = 512);
  // The usual case: one Transformer and its KV cache. Its logits stay in the backend's memory and
  // the backend draws the tokens (Backend::sample) unless a repetition penalty needs the host.
  Generator(Transformer& model, KvCache& cache, const SamplingParams& sampling, int64_t batch = 512);

  // Generates up to n_predict tokens after the prompt. on_token is called with each new token and
  // returns false to stop; generation also stops when is_end(token) or the context is full.
  std::vector<int32_t> generate(std::span<const int32_t> prompt, int64_t n_predict,
                                const std::function<bool(int32_t)>& on_token,
                                const std::function<bool(int32_t)>& is_end = nullptr);

  const GenerationStats& stats() const { return stats_; }

 private:
  ForwardStep step_;
  Backend* backend_ = nullptr;  // where the step's logits live, when not in host memory
  int64_t n_vocab_, n_ctx_;
  Sampler sampler_;
  int64_t batch_;
  GenerationStats stats_;
};

}  // namespace llmr
