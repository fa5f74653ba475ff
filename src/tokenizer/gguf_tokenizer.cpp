// The tokenizer in GGUF metadata (llama.cpp's tokenizer.ggml.* keys): reading it, and writing one.
#include <cstdio>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/end_of_turn.h"
#include "tokenizer/pre_tokenizer_names.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"

namespace llmr {
namespace {

constexpr const char* kSpaceMarker = "\xE2\x96\x81";  // "▁"

bool bool_or(const Metadata& md, const std::string& key, bool fallback) {
  return md.find(key) ? md.get_bool(key) : fallback;
}

int32_t id_or(const Metadata& md, const std::string& key, int32_t n) {
  auto v = md.int_or(key);
  if (!v) return -1;
  check(*v >= -1 && *v < n, "metadata key '" + key + "' = " + std::to_string(*v) + " is outside the vocabulary of " +
                                std::to_string(n));
  return int32_t(*v);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const Metadata& md) {
  auto model = md.string_or("tokenizer.ggml.model");
  if (!model || *model == "no_vocab" || *model == "none") return nullptr;
  TokenizerSpec spec;
  if (*model == "gpt2") spec.byte_level = true;
  else check(*model == "llama", "tokenizer.ggml.model '" + *model + "' is not supported (llama, gpt2)");

  spec.tokens = md.get_string_array("tokenizer.ggml.tokens");
  const int32_t n = int32_t(spec.tokens.size());
  check(n > 0 && n < (1 << 24), "tokenizer.ggml.tokens: " + std::to_string(n) + " tokens is not a usable vocabulary");
  spec.token_types.assign(n, TokenType::Normal);
  if (md.find("tokenizer.ggml.token_type")) {
    const MetaArray& a = md.get_array("tokenizer.ggml.token_type");
    check(int64_t(a.values.size()) == n, "tokenizer.ggml.token_type has " + std::to_string(a.values.size()) +
                                            " entries for " + std::to_string(n) + " tokens");
    for (int32_t i = 0; i < n; ++i) {
      const MetaValue& v = a.values[i];
      int64_t t = std::holds_alternative<int64_t>(v.value) ? std::get<int64_t>(v.value)
                  : std::holds_alternative<uint64_t>(v.value) ? int64_t(std::get<uint64_t>(v.value)) : -1;
      check(t >= 0 && t <= 6, "tokenizer.ggml.token_type[" + std::to_string(i) + "] is not a token type (0..6)");
      spec.token_types[i] = t == 0 ? TokenType::Normal : TokenType(t);
    }
  }
  if (md.find("tokenizer.ggml.scores")) {
    const MetaArray& a = md.get_array("tokenizer.ggml.scores");
    check(int64_t(a.values.size()) == n, "tokenizer.ggml.scores has " + std::to_string(a.values.size()) +
                                            " entries for " + std::to_string(n) + " tokens");
    for (const auto& v : a.values) {
      check(std::holds_alternative<double>(v.value), "tokenizer.ggml.scores: expected floats");
      spec.scores.push_back(float(std::get<double>(v.value)));
    }
  }
  if (md.find("tokenizer.ggml.merges")) {
    for (const std::string& m : md.get_string_array("tokenizer.ggml.merges")) {
      size_t sp = m.find(' ', 1);  // the first part is never empty
      check(sp != std::string::npos, "tokenizer.ggml.merges: entry '" + m + "' has no space");
      spec.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
    }
  }
  for (int32_t id = 0; id < n; ++id) {
    TokenType t = spec.token_types[id];
    if (t == TokenType::Control || t == TokenType::Unknown || t == TokenType::UserDefined)
      spec.added.push_back({id, spec.tokens[id], t != TokenType::UserDefined, false, false});
  }

  spec.bos_id = id_or(md, "tokenizer.ggml.bos_token_id", n);
  spec.eos_id = id_or(md, "tokenizer.ggml.eos_token_id", n);
  spec.unk_id = id_or(md, "tokenizer.ggml.unknown_token_id", n);
  spec.pad_id = id_or(md, "tokenizer.ggml.padding_token_id", n);
  spec.add_bos = bool_or(md, "tokenizer.ggml.add_bos_token", !spec.byte_level);
  spec.add_eos = bool_or(md, "tokenizer.ggml.add_eos_token", false);
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    int32_t id = id_or(md, key, n);
    if (id >= 0) spec.end_of_generation.push_back(id);
  }

  if (spec.byte_level) {
    spec.pre_name = md.string_or("tokenizer.ggml.pre").value_or("default");
    const PreTokenizerPreset* preset = find_pre_tokenizer(spec.pre_name);
    check(preset != nullptr, "tokenizer.ggml.pre '" + spec.pre_name + "' is not a pre-tokenizer llmr knows");
    if (preset->nfc) spec.normalizer.push_back({NormalizerStep::Kind::Nfc, "", ""});
    for (const auto& re : preset->regexes) spec.splits.push_back({re, false});
    spec.ignore_merges = preset->names[0] == "llama-bpe";  // Llama 3's tokenizer.json sets it
  } else {
    bool prefix = bool_or(md, "tokenizer.ggml.add_space_prefix", true);
    if (prefix) spec.normalizer.push_back({NormalizerStep::Kind::Prepend, kSpaceMarker, ""});
    spec.normalizer.push_back({NormalizerStep::Kind::Replace, " ", kSpaceMarker});
    spec.strip_leading_spaces = prefix ? 1 : 0;
    spec.byte_fallback = true;
    spec.fuse_unk = true;
  }
  add_end_of_turn_tokens(spec);
  if (auto ct = md.string_or("tokenizer.chat_template")) spec.chat_template = *ct;
  return from_spec(std::move(spec));
}

void write_tokenizer_to_gguf(const TokenizerSpec& spec, Metadata& md) {
  const size_t n = spec.tokens.size();
  md.set("tokenizer.ggml.model", MetaValue::str(spec.byte_level ? "gpt2" : "llama"));
  if (spec.byte_level) {
    const PreTokenizerPreset* preset = match_pre_tokenizer(spec);
    check(preset != nullptr, "tokenizer.json: its pre-tokenizer matches no tokenizer.ggml.pre name llmr knows");
    md.set("tokenizer.ggml.pre", MetaValue::str(preset->names[0]));
  }
  std::vector<MetaValue> tokens, types, scores, merges;
  tokens.reserve(n);
  types.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    // llama.cpp fills ids nothing uses with "[PAD<id>]".
    tokens.push_back(MetaValue::str(spec.tokens[id].empty() ? "[PAD" + std::to_string(id) + "]" : spec.tokens[id]));
    types.push_back(MetaValue::i32(int32_t(spec.token_types.size() == n ? spec.token_types[id] : TokenType::Normal)));
  }
  md.set("tokenizer.ggml.tokens", MetaValue::array(MetaType::STRING, std::move(tokens)));
  if (!spec.byte_level) {
    // SentencePiece vocabularies carry scores; a token made by merge r scores -r, so scores alone rank merges.
    std::vector<float> s(n, 0.0f);
    if (spec.scores.size() == n) s = spec.scores;
    else {
      std::unordered_map<std::string, size_t> where;
      for (size_t id = 0; id < n; ++id) where.emplace(spec.tokens[id], id);
      for (size_t r = spec.merges.size(); r-- > 0;) {
        auto it = where.find(spec.merges[r].first + spec.merges[r].second);
        if (it != where.end()) s[it->second] = -float(r + 1);
      }
    }
    for (float f : s) scores.push_back(MetaValue::f32(f));
    md.set("tokenizer.ggml.scores", MetaValue::array(MetaType::F32, std::move(scores)));
  }
  md.set("tokenizer.ggml.token_type", MetaValue::array(MetaType::I32, std::move(types)));
  if (!spec.merges.empty()) {
    merges.reserve(spec.merges.size());
    for (const auto& [a, b] : spec.merges) {
      check(a.find(' ') == std::string::npos, "tokenizer merges: part '" + a + "' holds a space, which GGUF's \"a b\" form cannot store");
      merges.push_back(MetaValue::str(a + " " + b));
    }
    md.set("tokenizer.ggml.merges", MetaValue::array(MetaType::STRING, std::move(merges)));
  }
  if (spec.bos_id >= 0) md.set("tokenizer.ggml.bos_token_id", MetaValue::u32(uint32_t(spec.bos_id)));
  if (spec.eos_id >= 0) md.set("tokenizer.ggml.eos_token_id", MetaValue::u32(uint32_t(spec.eos_id)));
  if (spec.unk_id >= 0) md.set("tokenizer.ggml.unknown_token_id", MetaValue::u32(uint32_t(spec.unk_id)));
  if (spec.pad_id >= 0) md.set("tokenizer.ggml.padding_token_id", MetaValue::u32(uint32_t(spec.pad_id)));
  md.set("tokenizer.ggml.add_bos_token", MetaValue::boolean(spec.add_bos));
  md.set("tokenizer.ggml.add_eos_token", MetaValue::boolean(spec.add_eos));
  if (!spec.byte_level) {
    bool prefix = false;
    for (const auto& s : spec.normalizer) prefix = prefix || s.kind == NormalizerStep::Kind::Prepend;
    md.set("tokenizer.ggml.add_space_prefix", MetaValue::boolean(prefix));
  }
  if (!spec.chat_template.empty()) md.set("tokenizer.chat_template", MetaValue::str(spec.chat_template));
}

void write_tokenizer_to_gguf(const std::filesystem::path& hf_dir, Metadata& md) {
  write_tokenizer_to_gguf(read_hf_tokenizer(hf_dir), md);
}

}  // namespace llmr
