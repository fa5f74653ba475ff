#pragma once
// Prompt in, tokens out, through a TensorParallelTransformer: runtime/generator.h's loop (prefill in
// chunks, one decode step per token, the same Sampler and stats) for the sharded model.
#include <functional>
#include <span>
#include <vector>

#include "runtime/generator.h"
#include "runtime/sampler.h"
#include "runtime/tp_transformer.h"

namespace llmr {

class TpGenerator {
 public:
  TpGenerator(TensorParallelTransformer& model, TpKvCache& cache, const SamplingParams& sampling, int64_t batch = 512);

  // As Generator::generate.
  std::vector<int32_t> generate(std::span<const int32_t> prompt, int64_t n_predict,
                                const std::function<bool(int32_t)>& on_token,
                                const std::function<bool(int32_t)>& is_end = nullptr);

  const GenerationStats& stats() const { return stats_; }

 private:
  TensorParallelTransformer& model_;
  TpKvCache& cache_;
  Sampler sampler_;
  int64_t batch_;
  GenerationStats stats_;
};

// The degree a command line asked for, checked against this machine: 1 runs the sharded path on
// the chosen backend; more needs that many GPUs and the NCCL implementation, and until that exists
// every degree above 1 is refused with the reason. Throws Error naming the flag.
void check_tp_degree_available(int degree, const std::string& device);

}  // namespace llmr
