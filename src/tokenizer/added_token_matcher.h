#pragma once
// Finds added tokens in text: at each position the longest one that matches (a byte trie), as
// transformers.js's DictionarySplitter does.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer_spec.h"

namespace llmr {

class AddedTokenMatcher {
 public:
  struct Section {
    std::string_view text;
    int32_t added = -1;  // index into the added tokens, or -1 for plain text
  };
  void build(const std::vector<AddedToken>& tokens);
  // Plain sections and matched tokens, in order; special tokens only when allow_special.
  void split(std::string_view text, bool allow_special, std::vector<Section>& out) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1, plain_token = -1;  // longest-so-far ends: any token / a non-special one
  };
  int32_t child(int32_t node, uint8_t byte) const;
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};
};

}  // namespace llmr
