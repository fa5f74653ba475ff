#pragma once
// Random-weight models of real shapes (Llama 3 8B, Llama 2 7B, Qwen2 7B, ...) for benchmarks and
// tests, written as GGUF files that llama.cpp loads too. Weights are made and quantized one tensor
// at a time while the file is written, so the model is never held in memory.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "format/metadata.h"
#include "model/model_config.h"
#include "tensor/dtype.h"

namespace llmr {

// The hyperparameters of a named shape; throws Error listing the names when `name` is unknown.
ModelConfig synthetic_shape(const std::string& name);
std::vector<std::string> synthetic_shape_names();

// Element `index` of the tensor named `tensor`: approximately N(0, 0.02) (a sum of four uniforms),
// a pure function of (seed, tensor, index) so any thread can make any element.
float synthetic_weight(uint64_t seed, const std::string& tensor, uint64_t index);

struct SyntheticModelInfo {
  int64_t parameters = 0;
  uint64_t file_bytes = 0;
  double seconds = 0;
};

// How many tokens the tokenizer in `md` has (tokenizer.ggml.tokens); 0 when it has none or "no_vocab".
int64_t tokenizer_token_count(const Metadata& md);

// A source model's tokenizer for a model with n_vocab rows: every tokenizer.* key of `source`
// (tokens, scores, types, merges, bos/eos ids, chat template), the token list padded up to
// n_vocab with control tokens "[PAD{id}]" (llama.cpp's pad names; control, so decoding skips them).
// Throws Error when the source has no tokenizer or more than n_vocab tokens.
Metadata synthetic_vocab_from(const Metadata& source, int64_t n_vocab);

// Writes a GGUF of the config's shape: matrices of `type` (falling back as storage_type_for does
// where rows are not whole blocks), norms of 1 and biases in f32. The tokenizer is `vocab` (from
// synthetic_vocab_from, config.n_vocab tokens) or, when null, none ("no_vocab").
// threads <= 0 = physical cores.
SyntheticModelInfo write_synthetic_model(const ModelConfig& config, DType type, uint64_t seed,
                                         const std::filesystem::path& out, int threads = 0,
                                         const Metadata* vocab = nullptr);

}  // namespace llmr
