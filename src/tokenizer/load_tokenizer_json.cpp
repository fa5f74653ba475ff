// Reads a Hugging Face tokenizer.json (+ tokenizer_config.json) into a TokenizerSpec.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/end_of_turn.h"
#include "tokenizer/pre_tokenizer_names.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"

namespace llmr {
namespace {

using nlohmann::json;

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(bool(in), "cannot open " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
}

struct Reader {
  std::string file;
  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw Error(file + ": " + field + ": " + why);
  }
  const json& need(const json& j, const char* key, const std::string& where) const {
    if (!j.is_object() || !j.contains(key)) fail(where + "." + key, "missing");
    return j[key];
  }
  std::string str(const json& j, const std::string& where) const {
    if (!j.is_string()) fail(where, "expected a string");
    return j.get<std::string>();
  }
};

// A token named in tokenizer_config.json: a string or {"content": ...}; "" when absent.
std::string config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return "";
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

void read_normalizer(const Reader& r, const json& n, TokenizerSpec& spec, const std::string& where) {
  if (n.is_null()) return;
  std::string type = r.str(r.need(n, "type", where), where + ".type");
  if (type == "Sequence") {
    const json& list = r.need(n, "normalizers", where);
    for (size_t i = 0; i < list.size(); ++i) read_normalizer(r, list[i], spec, where + ".normalizers[" + std::to_string(i) + "]");
  } else if (type == "Prepend") {
    spec.normalizer.push_back({NormalizerStep::Kind::Prepend, r.str(r.need(n, "prepend", where), where + ".prepend"), ""});
  } else if (type == "Replace") {
    const json& pat = r.need(n, "pattern", where);
    if (!pat.contains("String")) r.fail(where + ".pattern", "only String patterns are supported in Replace");
    spec.normalizer.push_back({NormalizerStep::Kind::Replace, r.str(pat["String"], where + ".pattern.String"),
                               r.str(r.need(n, "content", where), where + ".content")});
  } else if (type == "NFC") {
    spec.normalizer.push_back({NormalizerStep::Kind::Nfc, "", ""});
  } else {
    r.fail(where + ".type", "normalizer '" + type + "' is not supported");
  }
}

void read_pre_tokenizer(const Reader& r, const json& p, TokenizerSpec& spec, const std::string& where) {
  if (p.is_null()) return;
  std::string type = r.str(r.need(p, "type", where), where + ".type");
  if (type == "Sequence") {
    const json& list = r.need(p, "pretokenizers", where);
    for (size_t i = 0; i < list.size(); ++i)
      read_pre_tokenizer(r, list[i], spec, where + ".pretokenizers[" + std::to_string(i) + "]");
  } else if (type == "Split") {
    const json& pat = r.need(p, "pattern", where);
    if (p.value("invert", false)) r.fail(where + ".invert", "inverted splits are not supported");
    std::string behavior = p.value("behavior", "Isolated");
    // transformers.js splits every non-"Removed" behaviour the Isolated way; so do we, to match it.
    if (behavior == "Removed") r.fail(where + ".behavior", "'Removed' is not supported");
    if (pat.contains("Regex")) spec.splits.push_back({r.str(pat["Regex"], where + ".pattern.Regex"), false});
    else if (pat.contains("String")) spec.splits.push_back({r.str(pat["String"], where + ".pattern.String"), true});
    else r.fail(where + ".pattern", "expected Regex or String");
  } else if (type == "ByteLevel") {
    spec.byte_level = true;
    spec.byte_level_prefix_space = p.value("add_prefix_space", false);
    if (p.value("use_regex", true)) spec.splits.push_back({pre_tokenizer_presets()[0].regexes[0], false});
  } else if (type == "Digits") {
    spec.splits.push_back({p.value("individual_digits", false) ? "[0-9]" : "[0-9]+", false});
  } else {
    r.fail(where + ".type", "pre-tokenizer '" + type + "' is not supported");
  }
}

// TemplateProcessing's "single" template: special tokens before and after $A.
void read_post_processor(const Reader& r, const json& p, TokenizerSpec& spec, const TokenIdMap& ids,
                         const std::string& where) {
  if (p.is_null()) return;
  std::string type = r.str(r.need(p, "type", where), where + ".type");
  if (type == "Sequence") {
    const json& list = r.need(p, "processors", where);
    for (size_t i = 0; i < list.size(); ++i)
      read_post_processor(r, list[i], spec, ids, where + ".processors[" + std::to_string(i) + "]");
  } else if (type == "TemplateProcessing") {
    const json& single = r.need(p, "single", where);
    bool seen_text = false;
    for (const json& item : single) {
      if (item.contains("Sequence")) { seen_text = true; continue; }
      if (!item.contains("SpecialToken")) continue;
      std::string name = r.str(item["SpecialToken"]["id"], where + ".single.SpecialToken.id");
      auto it = ids.find(name);
      if (it == ids.end()) r.fail(where + ".single", "special token '" + name + "' is not in the vocabulary");
      if (!seen_text) { spec.add_bos = true; spec.bos_id = it->second; }
      else { spec.add_eos = true; spec.eos_id = it->second; }
    }
  }
  // ByteLevel, and others that only touch offsets, change no ids.
}

void read_decoder(const json& d, TokenizerSpec& spec) {
  if (d.is_null()) return;
  std::string type = d.value("type", "");
  if (type == "Sequence" && d.contains("decoders")) {
    for (const json& x : d["decoders"]) read_decoder(x, spec);
  } else if (type == "Strip" && d.value("content", "") == " ") {
    spec.strip_leading_spaces = d.value("start", 0);
  }
}

}  // namespace

TokenizerSpec read_hf_tokenizer(const std::filesystem::path& dir) {
  auto tok_path = dir / "tokenizer.json";
  Reader r{tok_path.string()};
  json t = read_json(tok_path);
  json cfg = json::object();
  if (std::filesystem::exists(dir / "tokenizer_config.json")) cfg = read_json(dir / "tokenizer_config.json");

  TokenizerSpec spec;
  const json& model = r.need(t, "model", "");
  std::string type = model.value("type", "BPE");
  if (type != "BPE") r.fail("model.type", "'" + type + "' is not supported (only BPE)");
  const json& vocab = r.need(model, "vocab", "model");
  if (!vocab.is_object()) r.fail("model.vocab", "expected an object of token -> id");

  TokenIdMap ids;
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) r.fail("model.vocab['" + it.key() + "']", "expected an integer id");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= (int64_t(1) << 24)) r.fail("model.vocab['" + it.key() + "']", "id out of range");
    ids[it.key()] = int32_t(id);
    max_id = std::max(max_id, id);
  }
  if (t.contains("added_tokens")) {
    for (const json& a : t["added_tokens"]) {
      AddedToken at;
      at.id = a.value("id", -1);
      at.content = r.str(r.need(a, "content", "added_tokens[]"), "added_tokens[].content");
      if (at.id < 0 || at.id >= (1 << 24)) r.fail("added_tokens['" + at.content + "'].id", "out of range");
      at.special = a.value("special", false);
      at.lstrip = a.value("lstrip", false);
      at.rstrip = a.value("rstrip", false);
      spec.added.push_back(at);
      ids[at.content] = at.id;
      max_id = std::max<int64_t>(max_id, at.id);
    }
  }
  spec.tokens.assign(size_t(max_id + 1), "");
  spec.token_types.assign(size_t(max_id + 1), TokenType::Normal);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) spec.tokens[it.value().get<int64_t>()] = it.key();
  for (size_t id = 0; id < spec.tokens.size(); ++id)
    if (spec.tokens[id].empty()) spec.token_types[id] = TokenType::Unused;
  for (const auto& a : spec.added) {
    spec.tokens[a.id] = a.content;
    spec.token_types[a.id] = a.special ? TokenType::Control : TokenType::UserDefined;
  }

  if (model.contains("merges") && model["merges"].is_array()) {
    for (const json& m : model["merges"]) {
      if (m.is_string()) {
        // "a b": split on spaces, keeping the first two parts (as transformers.js does).
        std::string s = m.get<std::string>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos) r.fail("model.merges", "entry '" + s + "' has no space");
        size_t sp2 = s.find(' ', sp + 1);
        spec.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp - 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        r.fail("model.merges", "expected \"a b\" or [a, b] entries");
      }
    }
  }
  spec.byte_fallback = model.value("byte_fallback", false);
  spec.ignore_merges = model.value("ignore_merges", false);
  spec.fuse_unk = model.value("fuse_unk", false);
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    auto it = ids.find(model["unk_token"].get<std::string>());
    if (it != ids.end()) spec.unk_id = it->second;
  }
  for (int b = 0; b < 256 && spec.byte_fallback; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = ids.find(name);
    if (it != ids.end() && spec.token_types[it->second] == TokenType::Normal) spec.token_types[it->second] = TokenType::Byte;
  }
  if (spec.unk_id >= 0) spec.token_types[spec.unk_id] = TokenType::Unknown;

  read_normalizer(r, t.value("normalizer", json()), spec, "normalizer");
  read_pre_tokenizer(r, t.value("pre_tokenizer", json()), spec, "pre_tokenizer");
  if (spec.byte_level) {
    const PreTokenizerPreset* preset = match_pre_tokenizer(spec);
    spec.pre_name = preset ? preset->names[0] : "";
  }

  auto lookup = [&](const std::string& name) -> int32_t {
    auto it = ids.find(name);
    return name.empty() || it == ids.end() ? -1 : it->second;
  };
  spec.bos_id = lookup(config_token(cfg, "bos_token"));
  spec.eos_id = lookup(config_token(cfg, "eos_token"));
  spec.pad_id = lookup(config_token(cfg, "pad_token"));
  // Which ids encode() adds comes from the post-processor (as transformers.js applies it).
  read_post_processor(r, t.value("post_processor", json()), spec, ids, "post_processor");
  read_decoder(t.value("decoder", json()), spec);

  add_end_of_turn_tokens(spec);

  if (cfg.contains("chat_template")) {
    const json& ct = cfg["chat_template"];
    if (ct.is_string()) spec.chat_template = ct.get<std::string>();
    else if (ct.is_array())
      for (const json& e : ct)
        if (e.value("name", "") == "default" && e.contains("template")) spec.chat_template = e["template"].get<std::string>();
  }
  return spec;
}

std::unique_ptr<Tokenizer> Tokenizer::from_hf_dir(const std::filesystem::path& dir) {
  return from_spec(read_hf_tokenizer(dir));
}

}  // namespace llmr
