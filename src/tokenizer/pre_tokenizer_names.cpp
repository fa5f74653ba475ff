#include "tokenizer/pre_tokenizer_names.h"

#include <algorithm>

namespace llmr {

const std::vector<PreTokenizerPreset>& pre_tokenizer_presets() {
  static const std::vector<PreTokenizerPreset> presets = {
      {{"gpt-2", "default", "gpt2"},
       {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
       false},
      {{"llama-bpe", "llama3", "llama-v3"},
       {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
        "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       false},
      {{"qwen2", "qwen3"},
       {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
        "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       true},
      {{"deepseek-v3"},
       {"\\p{N}{1,3}", "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
        "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
       false},
  };
  return presets;
}

const PreTokenizerPreset* find_pre_tokenizer(const std::string& name) {
  for (const auto& p : pre_tokenizer_presets())
    if (std::find(p.names.begin(), p.names.end(), name) != p.names.end()) return &p;
  return nullptr;
}

const PreTokenizerPreset* match_pre_tokenizer(const TokenizerSpec& spec) {
  bool nfc = std::any_of(spec.normalizer.begin(), spec.normalizer.end(),
                         [](const NormalizerStep& s) { return s.kind == NormalizerStep::Kind::Nfc; });
  for (const auto& p : pre_tokenizer_presets()) {
    if (p.nfc != nfc || p.regexes.size() != spec.splits.size()) continue;
    bool same = true;
    for (size_t i = 0; i < p.regexes.size(); ++i)
      same = same && !spec.splits[i].literal && spec.splits[i].pattern == p.regexes[i];
    if (same) return &p;
  }
  return nullptr;
}

}  // namespace llmr
