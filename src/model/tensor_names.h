#pragma once
// Tensor names: llama.cpp's GGUF names are llmr's canonical names; Hugging Face names map onto them.
#include <optional>
#include <string>

namespace llmr {

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; nullopt for names llmr
// does not use (rotary caches and the like).
std::optional<std::string> gguf_name_for_hf(const std::string& hf_name);

inline std::string layer_tensor(int64_t layer, const char* suffix) {
  return "blk." + std::to_string(layer) + "." + suffix;
}

}  // namespace llmr
