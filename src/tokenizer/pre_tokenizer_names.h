#pragma once
// llama.cpp's tokenizer.ggml.pre names and the split regexes (and normalization) each stands for.
#include <string>
#include <vector>

#include "tokenizer/tokenizer_spec.h"

namespace llmr {

struct PreTokenizerPreset {
  std::vector<std::string> names;  // first is the one written
  std::vector<std::string> regexes;
  bool nfc = false;
};

const std::vector<PreTokenizerPreset>& pre_tokenizer_presets();
// nullptr when no preset has that name.
const PreTokenizerPreset* find_pre_tokenizer(const std::string& name);
// The preset whose regexes and normalization are spec's, or nullptr.
const PreTokenizerPreset* match_pre_tokenizer(const TokenizerSpec& spec);

}  // namespace llmr
