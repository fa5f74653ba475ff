#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"

namespace llmr {
namespace {

// JavaScript's String.prototype.trim set (WhiteSpace and LineTerminator).
bool is_js_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

std::string_view trim_start(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t at = pos;
    if (!is_js_space(utf8::next(s, at))) break;
    pos = at;
  }
  return s.substr(pos);
}

std::string_view trim_end(std::string_view s) {
  while (!s.empty()) {
    size_t start = s.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t at = start;
    if (!is_js_space(utf8::next(s, at))) break;
    s = s.substr(0, start);
  }
  return s;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (size_t at; (at = s.find(from, pos)) != std::string::npos; pos = at + from.size()) {
    out.append(s, pos, at - pos);
    out += to;
  }
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

// "<0x41>" -> 0x41, or -1.
int parse_byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    char c = t[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

BpeTokenizer::BpeTokenizer(TokenizerSpec spec) : spec_(std::move(spec)) {
  const int32_t n = int32_t(spec_.tokens.size());
  check(n > 0, "tokenizer: the vocabulary is empty");
  if (spec_.token_types.size() != size_t(n)) spec_.token_types.resize(n, TokenType::Normal);
  auto check_id = [&](int32_t id, const char* what) {
    check(id >= -1 && id < n, std::string("tokenizer: ") + what + " id " + std::to_string(id) +
                                  " is outside the vocabulary of " + std::to_string(n));
  };
  check_id(spec_.bos_id, "bos");
  check_id(spec_.eos_id, "eos");
  check_id(spec_.unk_id, "unk");
  for (const auto& a : spec_.added) check_id(a.id, "added token");
  for (int32_t id : spec_.end_of_generation) check_id(id, "end-of-generation");

  token_to_id_.reserve(n + spec_.added.size());
  for (int32_t id = 0; id < n; ++id)
    if (!spec_.tokens[id].empty()) token_to_id_.emplace(spec_.tokens[id], id);
  for (const auto& a : spec_.added) token_to_id_[a.content] = a.id;  // added tokens override the vocabulary

  BpeModel::Options opt{spec_.ignore_merges, spec_.byte_fallback, spec_.fuse_unk, spec_.unk_id};
  if (!spec_.merges.empty() || spec_.scores.empty()) {
    model_ = std::make_unique<BpeModel>(token_to_id_, spec_.merges, opt);
  } else {
    check(spec_.scores.size() == size_t(n), "tokenizer: scores has " + std::to_string(spec_.scores.size()) +
                                                " entries for " + std::to_string(n) + " tokens");
    std::vector<bool> mergeable(n);
    for (int32_t id = 0; id < n; ++id) mergeable[id] = spec_.token_types[id] == TokenType::Normal;
    model_ = std::make_unique<BpeModel>(token_to_id_, spec_.tokens, spec_.scores, mergeable, opt);
  }
  for (const auto& s : spec_.splits) splits_.emplace_back(s.pattern, s.literal);
  added_.build(spec_.added);

  pieces_.resize(n);
  special_.assign(n, 0);
  eog_.assign(n, 0);
  for (int32_t id = 0; id < n; ++id) {
    const std::string& t = spec_.tokens[id];
    int byte = spec_.byte_level ? -1 : parse_byte_token(t);
    if (spec_.token_types[id] == TokenType::Control) special_[id] = 1;
    if (spec_.byte_level) {
      pieces_[id] = byte_level::decode(t);
    } else if (byte >= 0 && (spec_.byte_fallback || spec_.token_types[id] == TokenType::Byte)) {
      pieces_[id] = std::string(1, char(byte));
    } else {
      pieces_[id] = t;
      replace_all(pieces_[id], "\xE2\x96\x81", " ");  // decoder Replace "▁" -> " "
    }
  }
  for (const auto& a : spec_.added) {
    // Added tokens decode to their text: unmapped by the byte-level decoder, but the SentencePiece
    // decoder's "▁" -> " " applies to them too (Gemma's "▁▁" tokens).
    pieces_[a.id] = a.content;
    if (!spec_.byte_level) replace_all(pieces_[a.id], "\xE2\x96\x81", " ");
    special_[a.id] = a.special;
  }
  for (int32_t id : spec_.end_of_generation) eog_[id] = 1;
  if (spec_.eos_id >= 0) eog_[spec_.eos_id] = 1;
}

std::string BpeTokenizer::normalize(std::string_view text) const {
  std::string s(text);
  for (const auto& step : spec_.normalizer) {
    switch (step.kind) {
      case NormalizerStep::Kind::Prepend: s = step.a + s; break;
      case NormalizerStep::Kind::Replace: replace_all(s, step.a, step.b); break;
      case NormalizerStep::Kind::Nfc: s = nfc_normalize(s); break;
    }
  }
  return s;
}

void BpeTokenizer::encode_section(std::string_view text, std::vector<int32_t>& out) const {
  std::string normalized = normalize(text);
  if (normalized.empty()) return;
  std::vector<std::string_view> pieces{normalized}, next;
  for (const auto& re : splits_) {
    next.clear();
    for (auto p : pieces) re.split(p, next);
    pieces.swap(next);
  }
  if (!spec_.byte_level) {
    for (auto p : pieces) model_->encode_word(p, out);
    return;
  }
  std::string mapped;
  for (auto p : pieces) {
    mapped.clear();
    if (spec_.byte_level_prefix_space && (p.empty() || p[0] != ' ')) mapped = byte_level::byte_to_text()[' '];
    mapped += byte_level::encode(p);
    model_->encode_word(mapped, out);
  }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view raw, bool add_special, bool parse_special) const {
  std::string text = utf8::sanitize(raw);
  std::vector<AddedTokenMatcher::Section> sections;
  added_.split(text, parse_special, sections);
  for (size_t i = 0; i < sections.size(); ++i) {
    if (sections[i].added < 0) continue;
    const AddedToken& a = spec_.added[sections[i].added];
    if (a.lstrip && i > 0 && sections[i - 1].added < 0) sections[i - 1].text = trim_end(sections[i - 1].text);
    if (a.rstrip && i + 1 < sections.size() && sections[i + 1].added < 0)
      sections[i + 1].text = trim_start(sections[i + 1].text);
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special && spec_.add_bos && spec_.bos_id >= 0) ids.push_back(spec_.bos_id);
  for (const auto& s : sections) {
    if (s.added >= 0) ids.push_back(spec_.added[s.added].id);
    else if (!s.text.empty()) encode_section(s.text, ids);
  }
  if (add_special && spec_.add_eos && spec_.eos_id >= 0) ids.push_back(spec_.eos_id);
  return ids;
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    check(id >= 0 && id < vocab_size(), "decode: token id " + std::to_string(id) + " is outside the vocabulary of " +
                                            std::to_string(vocab_size()));
    if (skip_special && special_[id]) continue;
    out += pieces_[id];
  }
  // The decoder's Strip step removes leading spaces of the whole decoded text.
  size_t strip = 0;
  while (strip < size_t(spec_.strip_leading_spaces) && strip < out.size() && out[strip] == ' ') ++strip;
  out.erase(0, strip);
  return out;
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  check(id >= 0 && id < vocab_size(), "token id " + std::to_string(id) + " is outside the vocabulary");
  return pieces_[id];
}

std::string BpeTokenizer::token_text(int32_t id) const {
  check(id >= 0 && id < vocab_size(), "token id " + std::to_string(id) + " is outside the vocabulary");
  return spec_.tokens[id];
}

bool BpeTokenizer::is_end_of_generation(int32_t id) const { return id >= 0 && id < vocab_size() && eog_[id]; }
bool BpeTokenizer::is_special(int32_t id) const { return id >= 0 && id < vocab_size() && special_[id]; }

std::unique_ptr<Tokenizer> Tokenizer::from_spec(TokenizerSpec spec) {
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

}  // namespace llmr
