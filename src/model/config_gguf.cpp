// ModelConfig <-> GGUF metadata, with llama.cpp's key names ({arch}.block_count, ...).
#include "core/error.h"
#include "model/model_config.h"

namespace llmr {
namespace {

Architecture parse_architecture(const std::string& name) {
  if (name == "llama" || name == "mistral") return Architecture::Llama;
  if (name == "qwen2") return Architecture::Qwen2;
  if (name == "qwen3") return Architecture::Qwen3;
  throw Error("unsupported architecture '" + name + "' (llmr runs llama, mistral, qwen2, qwen3)");
}

}  // namespace

ModelConfig config_from_gguf(const Metadata& md) {
  ModelConfig c;
  const std::string arch = md.get_string("general.architecture");
  c.arch = parse_architecture(arch);
  const std::string p = arch + ".";
  c.n_embd = md.get_int(p + "embedding_length");
  c.n_layer = md.get_int(p + "block_count");
  c.n_head = md.get_int(p + "attention.head_count");
  c.n_head_kv = md.int_or(p + "attention.head_count_kv").value_or(c.n_head);
  c.n_ff = md.get_int(p + "feed_forward_length");
  c.n_ctx_train = md.int_or(p + "context_length").value_or(2048);
  c.rms_eps = md.float_or(p + "attention.layer_norm_rms_epsilon").value_or(1e-5);
  c.rope_theta = md.float_or(p + "rope.freq_base").value_or(10000.0);
  check(c.n_head > 0, "GGUF key " + p + "attention.head_count must be positive");
  c.head_dim = md.int_or(p + "attention.key_length").value_or(c.n_embd / c.n_head);
  c.rope_dims = md.int_or(p + "rope.dimension_count").value_or(c.head_dim);
  if (auto t = md.string_or(p + "rope.scaling.type"); t && *t != "none") {
    check(*t == "linear" || *t == "llama3", "unsupported rope scaling type '" + *t + "'");
    c.rope_scaling.type = *t;
    c.rope_scaling.factor = md.float_or(p + "rope.scaling.factor").value_or(1.0);
  }
  // llama.cpp's GGUF llama files carry q/k rows permuted for the interleaved rotation; qwen keeps NeoX.
  c.rope_layout = c.arch == Architecture::Llama ? RopeLayout::Interleaved : RopeLayout::NeoX;
  c.qkv_bias = c.arch == Architecture::Qwen2;
  c.qk_norm = c.arch == Architecture::Qwen3;
  if (auto v = md.int_or(p + "vocab_size")) c.n_vocab = *v;
  else if (md.has("tokenizer.ggml.tokens")) c.n_vocab = int64_t(md.get_array("tokenizer.ggml.tokens").values.size());
  c.bos_id = int32_t(md.int_or("tokenizer.ggml.bos_token_id").value_or(-1));
  c.eos_id = int32_t(md.int_or("tokenizer.ggml.eos_token_id").value_or(-1));
  return c;
}

void config_to_gguf(const ModelConfig& c, Metadata& md) {
  const std::string arch = architecture_name(c.arch);
  const std::string p = arch + ".";
  md.set("general.architecture", MetaValue::str(arch));
  md.set(p + "vocab_size", MetaValue::u32(uint32_t(c.n_vocab)));
  md.set(p + "context_length", MetaValue::u32(uint32_t(c.n_ctx_train)));
  md.set(p + "embedding_length", MetaValue::u32(uint32_t(c.n_embd)));
  md.set(p + "block_count", MetaValue::u32(uint32_t(c.n_layer)));
  md.set(p + "feed_forward_length", MetaValue::u32(uint32_t(c.n_ff)));
  md.set(p + "attention.head_count", MetaValue::u32(uint32_t(c.n_head)));
  md.set(p + "attention.head_count_kv", MetaValue::u32(uint32_t(c.n_head_kv)));
  md.set(p + "attention.layer_norm_rms_epsilon", MetaValue::f32(float(c.rms_eps)));
  md.set(p + "attention.key_length", MetaValue::u32(uint32_t(c.head_dim)));
  md.set(p + "attention.value_length", MetaValue::u32(uint32_t(c.head_dim)));
  md.set(p + "rope.freq_base", MetaValue::f32(float(c.rope_theta)));
  md.set(p + "rope.dimension_count", MetaValue::u32(uint32_t(c.rope_dims)));
  if (c.rope_scaling.type == "linear") {
    md.set(p + "rope.scaling.type", MetaValue::str("linear"));
    md.set(p + "rope.scaling.factor", MetaValue::f32(float(c.rope_scaling.factor)));
  }
  // llama3 scaling travels as the rope_freqs tensor, as llama.cpp's converter writes it.
}

}  // namespace llmr
