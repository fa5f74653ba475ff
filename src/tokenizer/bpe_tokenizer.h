#pragma once
// The one Tokenizer implementation: added-token splitting, normalizer, pre-tokenizer splits,
// (byte-level mapping), BPE, post-processor; and the decoder back to bytes.
#include <memory>
#include <optional>

#include "tokenizer/added_token_matcher.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/split_regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"

namespace llmr {

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(TokenizerSpec spec);

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special) const override;
  std::string token_bytes(int32_t id) const override;
  std::string token_text(int32_t id) const override;
  int32_t vocab_size() const override { return int32_t(spec_.tokens.size()); }
  int32_t bos_id() const override { return spec_.bos_id; }
  int32_t eos_id() const override { return spec_.eos_id; }
  bool is_end_of_generation(int32_t id) const override;
  bool is_special(int32_t id) const override;
  std::string kind() const override { return spec_.byte_level ? "byte-level-bpe" : "sentencepiece-bpe"; }
  const TokenizerSpec& spec() const override { return spec_; }

 private:
  std::string normalize(std::string_view text) const;
  void encode_section(std::string_view text, std::vector<int32_t>& out) const;

  TokenizerSpec spec_;
  TokenIdMap token_to_id_;
  std::unique_ptr<BpeModel> model_;
  std::vector<SplitRegex> splits_;
  AddedTokenMatcher added_;
  std::vector<std::string> pieces_;  // decoded bytes per id
  std::vector<uint8_t> special_;     // per id
  std::vector<uint8_t> eog_;         // per id
};

}  // namespace llmr
