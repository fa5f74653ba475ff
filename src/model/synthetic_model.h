#pragma once
// Random-weight models of real shapes (Llama 3 8B, Llama 2 7B, Qwen2 7B, ...) for benchmarks and
// tests, written as GGUF files that llama.cpp loads too. Weights are made and quantized one tensor
// at a time while the file is written, so the model is never held in memory.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

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

// Writes a no_vocab GGUF of the config's shape: matrices of `type` (falling back as
// storage_type_for does where rows are not whole blocks), norms of 1 and biases in f32.
// threads <= 0 = physical cores.
SyntheticModelInfo write_synthetic_model(const ModelConfig& config, DType type, uint64_t seed,
                                         const std::filesystem::path& out, int threads = 0);

}  // namespace llmr
