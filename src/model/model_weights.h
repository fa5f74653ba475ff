#pragma once
// The weights of one model bound by name from a ModelFile, shapes checked against the config.
// Matmul weights stay in the file's mapping (any weight type); the small vectors (norms, biases) are
// converted to f32 once, since the ops take them as f32.
#include <memory>
#include <vector>

#include "format/model_file.h"
#include "model/model_config.h"

namespace llmr {

struct LayerWeights {
  Tensor attn_norm;
  Tensor wq, wk, wv, wo;
  Tensor bq, bk, bv;          // Qwen2 only (data null otherwise)
  Tensor q_norm, k_norm;      // Qwen3 only
  Tensor ffn_norm;
  Tensor w_gate, w_up, w_down;
  // wq|wk|wv and w_gate|w_up stacked into one matrix each (one matrix-vector product instead of
  // three and two), made at load by backends whose upload copies; data null otherwise.
  Tensor wqkv, w_gate_up;
};

struct ModelWeights {
  Tensor token_embd;
  std::vector<LayerWeights> layers;
  Tensor output_norm;
  Tensor output;              // token_embd when embeddings are tied
  std::vector<float> rope_freq_factors;  // llama.cpp's rope_freqs tensor, empty when absent
  std::vector<std::unique_ptr<HostBuffer>> owned;  // f32 copies of the small vectors

  // Binds every tensor the config needs; throws Error naming a missing tensor or a wrong shape.
  static ModelWeights bind(const ModelFile& file, const ModelConfig& config);
};

}  // namespace llmr
