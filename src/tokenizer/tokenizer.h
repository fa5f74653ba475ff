#pragma once
// Text <-> token ids, matching Hugging Face tokenizers (as transformers.js runs them) token for token.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/metadata.h"

namespace llmr {

struct TokenizerSpec;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // From GGUF metadata (tokenizer.ggml.model "llama" = SentencePiece BPE with byte fallback, "gpt2" =
  // byte-level BPE with tokenizer.ggml.pre naming the pre-tokenizer); nullptr for "no_vocab" or no tokenizer.
  static std::unique_ptr<Tokenizer> from_gguf(const Metadata& md);
  // From a Hugging Face directory: tokenizer.json (+ tokenizer_config.json for bos/eos/chat template).
  static std::unique_ptr<Tokenizer> from_hf_dir(const std::filesystem::path& dir);
  static std::unique_ptr<Tokenizer> from_spec(TokenizerSpec spec);

  // Invalid UTF-8 in text is read as U+FFFD, as JavaScript's TextDecoder reads it.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special /*BOS/EOS per model*/,
                                      bool parse_special /*match special tokens in text*/) const = 0;
  // The raw bytes (which may be partial UTF-8 when ids split a character).
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;
  virtual std::string token_bytes(int32_t id) const = 0;  // raw bytes this token stands for
  virtual std::string token_text(int32_t id) const = 0;   // the vocabulary string, for display
  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when none
  virtual int32_t eos_id() const = 0;
  virtual bool is_end_of_generation(int32_t id) const = 0;  // eos, eot, <|im_end|>, <|eot_id|>, ...
  virtual bool is_special(int32_t id) const = 0;            // control tokens (skipped by skip_special)
  virtual std::string kind() const = 0;  // "sentencepiece-bpe" | "byte-level-bpe"
  virtual const TokenizerSpec& spec() const = 0;
};

// Emits only complete UTF-8: a character split across tokens is held back until whole; bytes that
// can never form a character come out as U+FFFD.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = true) : tok_(tok), skip_special_(skip_special) {}
  std::string push(int32_t id);
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  bool started_ = false;
  std::string pending_;
};

// Writes the tokenizer into GGUF metadata the way llama.cpp's converter does (tokenizer.ggml.model,
// .pre, .tokens, .scores, .token_type, .merges, bos/eos ids, add_bos_token ...).
void write_tokenizer_to_gguf(const std::filesystem::path& hf_dir, Metadata& md);
void write_tokenizer_to_gguf(const TokenizerSpec& spec, Metadata& md);

// Reads tokenizer.json (+ tokenizer_config.json) into a spec; throws Error naming the file and field.
TokenizerSpec read_hf_tokenizer(const std::filesystem::path& dir);

}  // namespace llmr
