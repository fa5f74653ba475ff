// libFuzzer: encode arbitrary bytes with two small vocabularies (byte-level and SentencePiece-style
// with byte fallback), decode arbitrary ids, stream-decode; only llmr::Error may escape, never a crash.
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pre_tokenizer_names.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"

namespace {

using namespace llmr;

std::unique_ptr<Tokenizer> byte_level_vocab() {
  TokenizerSpec s;
  s.byte_level = true;
  for (const auto& t : byte_level::byte_to_text()) s.tokens.push_back(t);
  const char* words[] = {"th", "he", "the", "in", "an", "er", "on"};
  for (const char* w : words) s.tokens.push_back(w);
  s.merges = {{"t", "h"}, {"h", "e"}, {"th", "e"}, {"i", "n"}, {"a", "n"}, {"e", "r"}, {"o", "n"}};
  s.added = {{int32_t(s.tokens.size()), "<|end|>", true}, {int32_t(s.tokens.size() + 1), "<tool>", false}};
  for (const auto& a : s.added) s.tokens.push_back(a.content);
  for (const auto& re : find_pre_tokenizer("llama-bpe")->regexes) s.splits.push_back({re, false});
  s.normalizer.push_back({NormalizerStep::Kind::Nfc, "", ""});
  s.eos_id = int32_t(s.tokens.size() - 2);
  return Tokenizer::from_spec(std::move(s));
}

std::unique_ptr<Tokenizer> sentencepiece_vocab() {
  TokenizerSpec s;
  s.tokens = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    s.tokens.push_back(name);
  }
  for (const char* w : {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab"}) s.tokens.push_back(w);
  s.merges = {{"\xE2\x96\x81", "a"}, {"a", "b"}, {"\xE2\x96\x81" "a", "b"}};
  s.added = {{0, "<unk>", true}, {1, "<s>", true}, {2, "</s>", true}};
  s.normalizer = {{NormalizerStep::Kind::Prepend, "\xE2\x96\x81", ""}, {NormalizerStep::Kind::Replace, " ", "\xE2\x96\x81"}};
  s.byte_fallback = true;
  s.fuse_unk = true;
  s.unk_id = 0;
  s.bos_id = 1;
  s.eos_id = 2;
  s.add_bos = true;
  s.strip_leading_spaces = 1;
  return Tokenizer::from_spec(std::move(s));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto bl = byte_level_vocab();
  static const auto sp = sentencepiece_vocab();
  if (size == 0) return 0;
  const Tokenizer& tok = (data[0] & 1) ? *bl : *sp;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 2) {
    auto ids = tok.encode(bytes, data[0] & 4, data[0] & 8);
    for (int32_t id : ids)
      if (id < 0 || id >= tok.vocab_size()) __builtin_trap();
    std::string text = tok.decode(ids);
    (void)text;
  } else {
    // Arbitrary ids (some out of range): decode must throw Error for those, never read past the table.
    std::vector<int32_t> ids;
    for (size_t i = 0; i + 1 < bytes.size(); i += 2)
      ids.push_back(int32_t(uint8_t(bytes[i]) | (uint8_t(bytes[i + 1]) << 8)) % (tok.vocab_size() + 8) - 2);
    try {
      (void)tok.decode(ids, data[0] & 4);
    } catch (const Error&) {
    }
    StreamDecoder sd(tok);
    for (int32_t id : ids) {
      if (id < 0 || id >= tok.vocab_size()) continue;
      (void)sd.push(id);
    }
    (void)sd.flush();
  }
  return 0;
}
