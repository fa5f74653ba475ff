#pragma once
// The BPE merge loop: a word's characters merged pair by pair, lowest merge rank first (leftmost on
// ties), with a heap over a linked list of symbols so a long word costs O(n log n), not O(n^2).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace llmr {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  struct Options {
    bool ignore_merges = false;  // a word that is itself a token is taken whole
    bool byte_fallback = false;  // unknown pieces become <0xXX> tokens
    bool fuse_unk = false;
    int32_t unk_id = -1;
  };
  // token_to_id: every token string (vocabulary and added tokens). merges by rank.
  BpeModel(const TokenIdMap& token_to_id, const std::vector<std::pair<std::string, std::string>>& merges,
           Options options);
  // Without merges: a pair merges when the joined string is a token; a higher score merges first.
  BpeModel(const TokenIdMap& token_to_id, const std::vector<std::string>& tokens, const std::vector<float>& scores,
           const std::vector<bool>& mergeable, Options options);

  // Appends the ids of one pre-tokenized word.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

 private:
  struct Merge { int32_t rank; int32_t result; };
  static uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  int32_t symbol(std::string_view s) const;
  int32_t intern(const std::string& s);  // ids past the vocabulary for merge parts that are not tokens
  void emit(std::string_view piece, int32_t id, std::vector<int32_t>& out) const;

  const TokenIdMap& token_to_id_;
  TokenIdMap extra_symbols_;
  int32_t next_extra_ = 0;
  int32_t first_extra_ = 0;
  std::unordered_map<uint64_t, Merge> merges_;
  std::vector<int32_t> byte_ids_;  // <0xXX> token per byte, -1 when absent
  Options options_;
};

}  // namespace llmr
