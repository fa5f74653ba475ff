#pragma once
// Finds a model's chat template and its BOS/EOS strings: GGUF metadata or a Hugging Face directory.
#include <filesystem>
#include <string>

#include "format/metadata.h"

namespace llmr {

struct ModelChatTemplate {
  std::string source;  // empty when the model ships no template
  std::string bos_token, eos_token;
};

// A .gguf file (tokenizer.chat_template, BOS/EOS from tokenizer.ggml.tokens) or a directory
// (tokenizer_config.json's chat_template, a string or [{name, template}] -> "default"; else
// chat_template.jinja / chat_template.json). Throws Error naming the file on malformed input.
ModelChatTemplate load_model_chat_template(const std::filesystem::path& model);
ModelChatTemplate chat_template_from_gguf_metadata(const Metadata& metadata);
ModelChatTemplate chat_template_from_hf_dir(const std::filesystem::path& dir);

}  // namespace llmr
