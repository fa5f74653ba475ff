#include "tokenizer/added_token_matcher.h"

#include <algorithm>

namespace llmr {

int32_t AddedTokenMatcher::child(int32_t node, uint8_t byte) const {
  const auto& c = nodes_[node].children;
  auto it = std::lower_bound(c.begin(), c.end(), std::make_pair(byte, int32_t(-1)));
  return it != c.end() && it->first == byte ? it->second : -1;
}

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens) {
  nodes_.assign(1, Node{});
  std::fill(std::begin(first_byte_), std::end(first_byte_), false);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& s = tokens[i].content;
    if (s.empty()) continue;
    first_byte_[static_cast<uint8_t>(s[0])] = true;
    int32_t node = 0;
    for (unsigned char b : s) {
      int32_t next = child(node, b);
      if (next < 0) {
        next = int32_t(nodes_.size());
        nodes_.push_back(Node{});
        auto& c = nodes_[node].children;
        c.insert(std::lower_bound(c.begin(), c.end(), std::make_pair(b, int32_t(-1))), {b, next});
      }
      node = next;
    }
    if (nodes_[node].token < 0) nodes_[node].token = int32_t(i);
    if (!tokens[i].special && nodes_[node].plain_token < 0) nodes_[node].plain_token = int32_t(i);
  }
}

void AddedTokenMatcher::split(std::string_view text, bool allow_special, std::vector<Section>& out) const {
  size_t plain_start = 0, pos = 0;
  while (pos < text.size()) {
    int32_t best = -1;
    size_t best_len = 0;
    if (first_byte_[static_cast<uint8_t>(text[pos])]) {
      int32_t node = 0;
      for (size_t i = pos; i < text.size(); ++i) {
        node = child(node, static_cast<uint8_t>(text[i]));
        if (node < 0) break;
        int32_t t = allow_special ? nodes_[node].token : nodes_[node].plain_token;
        if (t >= 0) { best = t; best_len = i + 1 - pos; }
      }
    }
    if (best < 0) { ++pos; continue; }
    if (pos > plain_start) out.push_back({text.substr(plain_start, pos - plain_start), -1});
    out.push_back({text.substr(pos, best_len), best});
    pos += best_len;
    plain_start = pos;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
}

}  // namespace llmr
