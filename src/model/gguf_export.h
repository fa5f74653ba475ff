#pragma once
// Writing GGUF files as llama.cpp's converter and quantizer do: `llmr convert` and `llmr quantize`.
#include <filesystem>
#include <vector>

#include "tensor/dtype.h"

namespace llmr {

// A Hugging Face directory (config.json, *.safetensors, tokenizer.json if any) to a GGUF file whose
// matmul weights are of `type` (f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q5_k, q6_k).
void convert_hf_to_gguf(const std::filesystem::path& hf_dir, const std::filesystem::path& out, DType type);

// Re-encodes the weights of a GGUF file as `type`; metadata and other tensors are kept.
void quantize_gguf(const std::filesystem::path& in, const std::filesystem::path& out, DType type);

// The type a tensor gets when converting to `target`: vectors stay f32; a matrix whose rows are not
// whole blocks of target falls back to q8_0, then f16, as llama.cpp does.
DType storage_type_for(const std::vector<int64_t>& shape, DType target);

}  // namespace llmr
