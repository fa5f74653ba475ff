#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <functional>

#include "core/error.h"

namespace llmr {
namespace {

int32_t max_id(const TokenIdMap& m) {
  int32_t hi = -1;
  for (const auto& [s, id] : m) hi = std::max(hi, id);
  return hi;
}

}  // namespace

BpeModel::BpeModel(const TokenIdMap& token_to_id, const std::vector<std::pair<std::string, std::string>>& merges,
                   Options options)
    : token_to_id_(token_to_id), options_(options) {
  first_extra_ = next_extra_ = max_id(token_to_id) + 1;
  merges_.reserve(merges.size() * 2);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    int32_t ia = intern(a), ib = intern(b), ir = intern(a + b);
    merges_.emplace(key(ia, ib), Merge{int32_t(rank), ir});  // the first (lowest) rank wins
  }
  byte_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = symbol(name);
  }
}

BpeModel::BpeModel(const TokenIdMap& token_to_id, const std::vector<std::string>& tokens,
                   const std::vector<float>& scores, const std::vector<bool>& mergeable, Options options)
    : token_to_id_(token_to_id), options_(options) {
  first_extra_ = next_extra_ = max_id(token_to_id) + 1;
  // Rank every mergeable token by descending score, then enumerate the splits that make it.
  std::vector<int32_t> order;
  for (size_t id = 0; id < tokens.size(); ++id)
    if (mergeable[id] && tokens[id].size() > 1) order.push_back(int32_t(id));
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return scores[a] > scores[b]; });
  for (size_t rank = 0; rank < order.size(); ++rank) {
    const std::string& t = tokens[order[rank]];
    for (size_t cut = 1; cut < t.size(); ++cut) {
      if ((static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) continue;  // inside a character
      int32_t ia = symbol(std::string_view(t).substr(0, cut)), ib = symbol(std::string_view(t).substr(cut));
      if (ia >= 0 && ib >= 0) merges_.emplace(key(ia, ib), Merge{int32_t(rank), order[rank]});
    }
  }
  byte_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = symbol(name);
  }
}

int32_t BpeModel::symbol(std::string_view s) const {
  auto it = token_to_id_.find(s);
  if (it != token_to_id_.end()) return it->second;
  auto jt = extra_symbols_.find(s);
  return jt != extra_symbols_.end() ? jt->second : -1;
}

int32_t BpeModel::intern(const std::string& s) {
  int32_t id = symbol(s);
  if (id >= 0) return id;
  check(next_extra_ < INT32_MAX, "tokenizer merges: too many distinct merge parts");
  extra_symbols_.emplace(s, next_extra_);
  return next_extra_++;
}

void BpeModel::emit(std::string_view piece, int32_t id, std::vector<int32_t>& out) const {
  if (id >= 0 && id < first_extra_) {
    out.push_back(id);
    return;
  }
  if (options_.byte_fallback) {
    bool all = true;
    for (unsigned char c : piece) all = all && byte_ids_[c] >= 0;
    if (all) {
      for (unsigned char c : piece) out.push_back(byte_ids_[c]);
      return;
    }
  }
  if (options_.unk_id < 0) return;  // no unknown token to stand in: the piece is dropped
  if (options_.fuse_unk && !out.empty() && out.back() == options_.unk_id) return;
  out.push_back(options_.unk_id);
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    int32_t whole = symbol(word);
    if (whole >= 0 && whole < first_extra_) {
      out.push_back(whole);
      return;
    }
  }
  struct Symbol {
    int32_t id;
    uint32_t begin, end;  // bytes of word
    int32_t prev, next;   // -1 at the ends
  };
  thread_local std::vector<Symbol> syms;
  syms.clear();
  for (uint32_t pos = 0; pos < word.size();) {
    uint32_t len = 1;
    unsigned char c = static_cast<unsigned char>(word[pos]);
    if (c >= 0xF0) len = 4; else if (c >= 0xE0) len = 3; else if (c >= 0xC0) len = 2;
    len = std::min<uint32_t>(len, uint32_t(word.size()) - pos);
    int32_t idx = int32_t(syms.size());
    syms.push_back({symbol(word.substr(pos, len)), pos, pos + len, idx - 1, -1});
    if (idx > 0) syms[idx - 1].next = idx;
    pos += len;
  }

  struct Candidate {
    int32_t rank;
    uint32_t begin;  // of the left symbol: ties go to the leftmost pair
    int32_t left, right, left_id, right_id, result;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : begin > o.begin; }
  };
  thread_local std::vector<Candidate> heap;  // a min-heap through std::greater
  heap.clear();
  auto consider = [&](int32_t left) {
    if (left < 0) return;
    int32_t right = syms[left].next;
    if (right < 0 || syms[left].id < 0 || syms[right].id < 0) return;
    auto it = merges_.find(key(syms[left].id, syms[right].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, syms[left].begin, left, right, syms[left].id, syms[right].id, it->second.result});
    std::push_heap(heap.begin(), heap.end(), std::greater<Candidate>{});
  };
  for (int32_t i = 0; i + 1 < int32_t(syms.size()); ++i) consider(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<Candidate>{});
    Candidate c = heap.back();
    heap.pop_back();
    Symbol& l = syms[c.left];
    // Stale when either side has merged since the candidate was pushed.
    if (l.id != c.left_id || l.next != c.right || syms[c.right].id != c.right_id) continue;
    Symbol& r = syms[c.right];
    l.id = c.result;
    l.end = r.end;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = c.left;
    r.id = -2;  // dead
    r.next = r.prev = -1;
    consider(l.prev);
    consider(c.left);
  }
  for (int32_t i = 0; i >= 0 && i < int32_t(syms.size()); i = syms[i].next)
    emit(word.substr(syms[i].begin, syms[i].end - syms[i].begin), syms[i].id, out);
}

}  // namespace llmr
