#pragma once
// Everything a BPE tokenizer is made of, as the loaders (tokenizer.json, GGUF) read it.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace llmr {

// GGUF's tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;  // control token: matched only when parse_special, skipped by skip_special
  bool lstrip = false, rstrip = false;
};

struct NormalizerStep {
  enum class Kind { Prepend, Replace, Nfc } kind;
  std::string a, b;  // Prepend: a = prefix; Replace: a -> b
};

struct SplitStep {
  std::string pattern;
  bool literal = false;  // a plain string, not a regex
};

struct TokenizerSpec {
  bool byte_level = false;              // byte-level BPE (GPT-2 style) vs SentencePiece-style BPE
  std::vector<std::string> tokens;      // id -> vocabulary string ("" for ids nothing uses)
  std::vector<float> scores;            // optional (GGUF SentencePiece vocabularies)
  std::vector<TokenType> token_types;   // one per token
  std::vector<std::pair<std::string, std::string>> merges;  // by rank; empty: derive from scores
  std::vector<AddedToken> added;

  std::vector<NormalizerStep> normalizer;
  std::vector<SplitStep> splits;        // pre-tokenizer splits, applied in order (Isolated)
  bool byte_level_prefix_space = false; // ByteLevel pre-tokenizer add_prefix_space
  std::string pre_name;                 // llama.cpp's tokenizer.ggml.pre for these splits

  bool ignore_merges = false, byte_fallback = false, fuse_unk = false;
  int32_t unk_id = -1, bos_id = -1, eos_id = -1, pad_id = -1;
  bool add_bos = false, add_eos = false;  // what add_special adds
  int strip_leading_spaces = 0;           // decoder Strip(" ", start=n) on the decoded text
  std::vector<int32_t> end_of_generation;
  std::string chat_template;
};

}  // namespace llmr
