#include "model/model_weights.h"

#include <map>

#include "core/error.h"
#include "model/tensor_names.h"
#include "tensor/quant.h"

namespace llmr {
namespace {

class Binder {
 public:
  Binder(const ModelFile& file, ModelWeights& w) : w_(w) {
    for (const auto& t : file.tensors) {
      if (file.format == FileFormat::Gguf) {
        by_name_[t.name] = &t;
      } else if (auto g = gguf_name_for_hf(t.name)) {
        by_name_[*g] = &t;
      }
    }
  }

  bool has(const std::string& name) const { return by_name_.count(name) != 0; }

  // A tensor of exactly this row-major shape, any type.
  Tensor get(const std::string& name, std::vector<int64_t> shape) const {
    auto it = by_name_.find(name);
    check(it != by_name_.end(), "model file has no tensor '" + name + "'");
    const Tensor& t = it->second->tensor;
    bool same = t.ndim == int(shape.size());
    for (int i = 0; same && i < t.ndim; ++i) same = t.shape[i] == shape[i];
    std::string want = "[";
    for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
    check(same, "tensor '" + name + "' has shape " + t.describe() + ", the config needs " + want + "]");
    return t;
  }

  // A vector converted to an owned f32 copy.
  Tensor get_f32(const std::string& name, int64_t n) {
    Tensor t = get(name, {n});
    auto buf = std::make_unique<HostBuffer>(DType::F32, std::vector<int64_t>{n});
    dequantize_row(t.type, t.data, static_cast<float*>(buf->data()), n);
    Tensor out = buf->tensor();
    w_.owned.push_back(std::move(buf));
    return out;
  }

 private:
  ModelWeights& w_;
  std::map<std::string, const TensorEntry*> by_name_;
};

}  // namespace

ModelWeights ModelWeights::bind(const ModelFile& file, const ModelConfig& c) {
  ModelWeights w;
  Binder b(file, w);
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  w.token_embd = b.get("token_embd.weight", {c.n_vocab, c.n_embd});
  w.output_norm = b.get_f32("output_norm.weight", c.n_embd);
  w.output = b.has("output.weight") ? b.get("output.weight", {c.n_vocab, c.n_embd}) : w.token_embd;
  if (b.has("rope_freqs.weight")) {
    Tensor f = b.get("rope_freqs.weight", {c.rope_dims / 2});
    w.rope_freq_factors.resize(size_t(c.rope_dims / 2));
    dequantize_row(f.type, f.data, w.rope_freq_factors.data(), c.rope_dims / 2);
  }
  for (int64_t i = 0; i < c.n_layer; ++i) {
    auto name = [&](const char* suffix) { return layer_tensor(i, suffix); };
    LayerWeights l;
    l.attn_norm = b.get_f32(name("attn_norm.weight"), c.n_embd);
    l.wq = b.get(name("attn_q.weight"), {q_dim, c.n_embd});
    l.wk = b.get(name("attn_k.weight"), {kv_dim, c.n_embd});
    l.wv = b.get(name("attn_v.weight"), {kv_dim, c.n_embd});
    l.wo = b.get(name("attn_output.weight"), {c.n_embd, q_dim});
    if (c.qkv_bias) {
      l.bq = b.get_f32(name("attn_q.bias"), q_dim);
      l.bk = b.get_f32(name("attn_k.bias"), kv_dim);
      l.bv = b.get_f32(name("attn_v.bias"), kv_dim);
    }
    if (c.qk_norm) {
      l.q_norm = b.get_f32(name("attn_q_norm.weight"), c.head_dim);
      l.k_norm = b.get_f32(name("attn_k_norm.weight"), c.head_dim);
    }
    l.ffn_norm = b.get_f32(name("ffn_norm.weight"), c.n_embd);
    l.w_gate = b.get(name("ffn_gate.weight"), {c.n_ff, c.n_embd});
    l.w_up = b.get(name("ffn_up.weight"), {c.n_ff, c.n_embd});
    l.w_down = b.get(name("ffn_down.weight"), {c.n_embd, c.n_ff});
    w.layers.push_back(l);
  }
  return w;
}

}  // namespace llmr
