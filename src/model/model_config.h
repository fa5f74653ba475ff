#pragma once
// Hyperparameters of a decoder-only transformer, read from GGUF metadata or a Hugging Face config.json.
#include <cstdint>
#include <string>
#include <vector>

#include "format/metadata.h"
#include "ops/backend.h"

namespace llmr {

enum class Architecture { Llama, Qwen2, Qwen3 };  // Mistral files are Llama-architecture

const char* architecture_name(Architecture a);  // as GGUF's general.architecture spells it

struct RopeScaling {
  std::string type = "none";  // none | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_context = 8192;
};

struct ModelConfig {
  Architecture arch = Architecture::Llama;
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_ctx_train = 0;
  double rms_eps = 1e-5;
  double rope_theta = 10000.0;
  int64_t rope_dims = 0;                    // rotated dims per head
  RopeLayout rope_layout = RopeLayout::NeoX;
  RopeScaling rope_scaling;
  bool tied_embeddings = false;
  bool qkv_bias = false;                    // Qwen2
  bool qk_norm = false;                     // Qwen3: RMSNorm per head on q and k
  int32_t bos_id = -1, eos_id = -1;

  // Throws Error naming the field if sizes are absent, non-positive, absurd or inconsistent.
  void validate() const;
  // rope_dims/2 angular frequencies with rope scaling applied (freq_factors: llama.cpp's
  // rope_freqs tensor, which divides each frequency, when the file carries one).
  std::vector<float> rope_inv_freq(const std::vector<float>* freq_factors = nullptr) const;
};

ModelConfig config_from_gguf(const Metadata& md);
ModelConfig config_from_hf_json(const std::string& config_json);

// Writes the config as llama.cpp's converter does ({arch}.block_count, ...).
void config_to_gguf(const ModelConfig& c, Metadata& md);

}  // namespace llmr
