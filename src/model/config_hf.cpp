// ModelConfig from a Hugging Face config.json (transformers 4.x and 5.x spellings).
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/model_config.h"

namespace llmr {
namespace {

using nlohmann::json;

int64_t get_int(const json& j, const char* key) {
  check(j.contains(key) && j[key].is_number_integer(), std::string("config.json: '") + key + "' must be an integer");
  return j[key].get<int64_t>();
}

int64_t int_or(const json& j, const char* key, int64_t fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  return get_int(j, key);
}

double float_or(const json& j, const char* key, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  check(j[key].is_number(), std::string("config.json: '") + key + "' must be a number");
  return j[key].get<double>();
}

}  // namespace

ModelConfig config_from_hf_json(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  check(!j.is_discarded() && j.is_object(), "config.json is not a JSON object");
  check(j.contains("model_type") && j["model_type"].is_string(), "config.json: 'model_type' missing");
  const std::string type = j["model_type"];
  ModelConfig c;
  if (type == "llama" || type == "mistral") c.arch = Architecture::Llama;
  else if (type == "qwen2") c.arch = Architecture::Qwen2;
  else if (type == "qwen3") c.arch = Architecture::Qwen3;
  else throw Error("config.json: unsupported model_type '" + type + "' (llmr runs llama, mistral, qwen2, qwen3)");

  c.n_vocab = get_int(j, "vocab_size");
  c.n_embd = get_int(j, "hidden_size");
  c.n_layer = get_int(j, "num_hidden_layers");
  c.n_head = get_int(j, "num_attention_heads");
  c.n_head_kv = int_or(j, "num_key_value_heads", c.n_head);
  c.n_ff = get_int(j, "intermediate_size");
  c.n_ctx_train = int_or(j, "max_position_embeddings", 2048);
  c.rms_eps = float_or(j, "rms_norm_eps", 1e-5);
  check(c.n_head > 0, "config.json: 'num_attention_heads' must be positive");
  c.head_dim = int_or(j, "head_dim", c.n_embd / c.n_head);
  c.rope_dims = c.head_dim;
  c.rope_layout = RopeLayout::NeoX;
  if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean())
    c.tied_embeddings = j["tie_word_embeddings"].get<bool>();
  c.qkv_bias = c.arch == Architecture::Qwen2 || j.value("attention_bias", false);
  c.qk_norm = c.arch == Architecture::Qwen3;
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer()) c.bos_id = j["bos_token_id"].get<int32_t>();
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) c.eos_id = j["eos_token_id"].get<int32_t>();

  // transformers 5 nests theta and scaling in rope_parameters; 4.x has rope_theta + rope_scaling.
  c.rope_theta = float_or(j, "rope_theta", 10000.0);
  json scaling = j.contains("rope_scaling") ? j["rope_scaling"] : json();
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    scaling = j["rope_parameters"];
    c.rope_theta = float_or(scaling, "rope_theta", c.rope_theta);
  }
  if (scaling.is_object()) {
    std::string rt = scaling.value("rope_type", scaling.value("type", std::string("default")));
    if (rt == "llama3" || rt == "linear") {
      c.rope_scaling.type = rt;
      c.rope_scaling.factor = float_or(scaling, "factor", 1.0);
      c.rope_scaling.low_freq_factor = float_or(scaling, "low_freq_factor", 1.0);
      c.rope_scaling.high_freq_factor = float_or(scaling, "high_freq_factor", 4.0);
      c.rope_scaling.original_context = int_or(scaling, "original_max_position_embeddings", 8192);
    } else {
      check(rt == "default", "config.json: unsupported rope type '" + rt + "'");
    }
  }
  return c;
}

}  // namespace llmr
