// Locating a model's chat template (see model_chat_template.h).
#include "chat/model_chat_template.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/model_file.h"

namespace llmr {
namespace {

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  check(bool(in), "cannot open " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json read_json(const std::filesystem::path& p) {
  try {
    return nlohmann::json::parse(read_text(p));
  } catch (const nlohmann::json::exception& e) {
    throw Error(p.string() + ": invalid JSON: " + e.what());
  }
}

// A special token as tokenizer_config.json writes it: a string, {"content": ...}, or null.
std::string token_text(const nlohmann::json& cfg, const char* key, const std::filesystem::path& file) {
  if (!cfg.contains(key) || cfg[key].is_null()) return "";
  const auto& t = cfg[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"].get<std::string>();
  throw Error(file.string() + ": " + key + " must be a string or an object with a \"content\" string");
}

// chat_template: a string, or [{name, template}] of which transformers uses "default".
std::string template_field(const nlohmann::json& t, const std::filesystem::path& file) {
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const auto& e : t) {
      check(e.is_object() && e.contains("name") && e["name"].is_string() && e.contains("template") &&
                e["template"].is_string(),
            file.string() + ": chat_template list entries must be {\"name\": string, \"template\": string}");
      if (e["name"] == "default") return e["template"].get<std::string>();
    }
    throw Error(file.string() + ": chat_template list has no entry named \"default\"");
  }
  throw Error(file.string() + ": chat_template must be a string or a list of {name, template}");
}

std::string token_by_id(const Metadata& md, const std::string& id_key) {
  auto id = md.int_or(id_key);
  if (!id || !md.has("tokenizer.ggml.tokens")) return "";
  const MetaArray& tokens = md.get_array("tokenizer.ggml.tokens");
  if (*id < 0 || static_cast<size_t>(*id) >= tokens.values.size()) return "";
  const auto* s = std::get_if<std::string>(&tokens.values[static_cast<size_t>(*id)].value);
  return s ? *s : "";
}

}  // namespace

ModelChatTemplate chat_template_from_gguf_metadata(const Metadata& md) {
  ModelChatTemplate out;
  if (auto t = md.string_or("tokenizer.chat_template")) out.source = *t;
  out.bos_token = token_by_id(md, "tokenizer.ggml.bos_token_id");
  out.eos_token = token_by_id(md, "tokenizer.ggml.eos_token_id");
  return out;
}

ModelChatTemplate chat_template_from_hf_dir(const std::filesystem::path& dir) {
  ModelChatTemplate out;
  auto cfg_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(cfg_path)) {
    nlohmann::json cfg = read_json(cfg_path);
    check(cfg.is_object(), cfg_path.string() + ": expected a JSON object");
    if (cfg.contains("chat_template") && !cfg["chat_template"].is_null())
      out.source = template_field(cfg["chat_template"], cfg_path);
    out.bos_token = token_text(cfg, "bos_token", cfg_path);
    out.eos_token = token_text(cfg, "eos_token", cfg_path);
  }
  // Newer checkpoints keep the template in its own file.
  if (out.source.empty() && std::filesystem::exists(dir / "chat_template.jinja")) out.source = read_text(dir / "chat_template.jinja");
  if (out.source.empty() && std::filesystem::exists(dir / "chat_template.json")) {
    nlohmann::json t = read_json(dir / "chat_template.json");
    if (t.is_object() && t.contains("chat_template")) out.source = template_field(t["chat_template"], dir / "chat_template.json");
  }
  return out;
}

ModelChatTemplate load_model_chat_template(const std::filesystem::path& model) {
  if (std::filesystem::is_directory(model)) return chat_template_from_hf_dir(model);
  return chat_template_from_gguf_metadata(open_gguf(model).metadata);
}

}  // namespace llmr
