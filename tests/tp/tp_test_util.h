#pragma once
// Shared by the tensor-parallel tests: random in-memory models, quantized copies of a model's
// matrices, a greedy loop and a logits comparison.
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "model/model_config.h"
#include "model/model_weights.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr::testing {

// A model whose weights live in owned host buffers (ModelWeights::owned).
struct MemoryModel {
  ModelConfig config;
  ModelWeights weights;
};

inline Tensor owned_tensor(ModelWeights& w, DType type, std::vector<int64_t> shape) {
  auto buf = std::make_unique<HostBuffer>(type, std::move(shape));
  Tensor t = buf->tensor();
  w.owned.push_back(std::move(buf));
  return t;
}

// f32 values drawn around `center` with half-width `spread`.
inline Tensor random_f32(ModelWeights& w, std::vector<int64_t> shape, float center = 0, float spread = 0.15f) {
  Tensor t = owned_tensor(w, DType::F32, std::move(shape));
  const auto v = random_floats(size_t(t.numel()), center - spread, center + spread);
  std::memcpy(t.data, v.data(), v.size() * sizeof(float));
  return t;
}

// GQA with biases and per-head q/k norms, so every kind of split weight is exercised: 8 query heads
// in 4 KV groups, vocabulary 203 (not divisible by 2 or 4: uneven vocabulary slices).
inline MemoryModel random_gqa_model(bool tied) {
  MemoryModel m;
  ModelConfig& c = m.config;
  c.arch = Architecture::Qwen2;
  c.n_vocab = 203, c.n_embd = 64, c.n_layer = 2, c.n_head = 8, c.n_head_kv = 4, c.head_dim = 16;
  c.n_ff = 96, c.n_ctx_train = 128, c.rope_dims = 16, c.rms_eps = 1e-6, c.rope_theta = 10000;
  c.qkv_bias = true, c.qk_norm = true, c.tied_embeddings = tied;
  c.validate();
  ModelWeights& w = m.weights;
  const int64_t q = c.n_head * c.head_dim, kv = c.n_head_kv * c.head_dim;
  w.token_embd = random_f32(w, {c.n_vocab, c.n_embd}, 0, 1.0f);
  w.output_norm = random_f32(w, {c.n_embd}, 1.0f, 0.2f);
  w.output = tied ? w.token_embd : random_f32(w, {c.n_vocab, c.n_embd});
  for (int64_t l = 0; l < c.n_layer; ++l) {
    LayerWeights lw;
    lw.attn_norm = random_f32(w, {c.n_embd}, 1.0f, 0.2f);
    lw.wq = random_f32(w, {q, c.n_embd});
    lw.wk = random_f32(w, {kv, c.n_embd});
    lw.wv = random_f32(w, {kv, c.n_embd});
    lw.wo = random_f32(w, {c.n_embd, q});
    lw.bq = random_f32(w, {q}, 0, 0.5f);
    lw.bk = random_f32(w, {kv}, 0, 0.5f);
    lw.bv = random_f32(w, {kv}, 0, 0.5f);
    lw.q_norm = random_f32(w, {c.head_dim}, 1.0f, 0.2f);
    lw.k_norm = random_f32(w, {c.head_dim}, 1.0f, 0.2f);
    lw.ffn_norm = random_f32(w, {c.n_embd}, 1.0f, 0.2f);
    lw.w_gate = random_f32(w, {c.n_ff, c.n_embd});
    lw.w_up = random_f32(w, {c.n_ff, c.n_embd});
    lw.w_down = random_f32(w, {c.n_embd, c.n_ff});
    w.layers.push_back(lw);
  }
  return m;
}

// A matrix converted to `type` (from any type), in a buffer owned by w.
inline Tensor quantized_copy(ModelWeights& w, const Tensor& src, DType type) {
  Tensor out = owned_tensor(w, type, {src.rows(), src.cols()});
  std::vector<float> row(size_t(src.cols()));
  for (int64_t r = 0; r < src.rows(); ++r) {
    dequantize_row(src.type, src.row(r), row.data(), src.cols());
    quantize_row(type, row.data(), out.row(r), src.cols());
  }
  return out;
}

// The model's weights with every matrix (not the embedding) converted to `type`; norms shared.
inline ModelWeights quantized_weights(const ModelWeights& full, DType type) {
  ModelWeights w;
  w.token_embd = full.token_embd;
  w.output_norm = full.output_norm;
  w.output = full.output.data == full.token_embd.data ? full.token_embd : quantized_copy(w, full.output, type);
  w.rope_freq_factors = full.rope_freq_factors;
  for (const LayerWeights& f : full.layers) {
    LayerWeights l = f;
    for (Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) *t = quantized_copy(w, *t, type);
    w.layers.push_back(l);
  }
  return w;
}

struct LogitsDiff {
  double max_abs = 0;
  bool argmax_same = true;
};

inline LogitsDiff compare_logits(const Tensor& got, const Tensor& want) {
  LogitsDiff d;
  for (int64_t r = 0; r < want.rows(); ++r) {
    const float *g = got.row<float>(r), *w = want.row<float>(r);
    int64_t ag = 0, aw = 0;
    for (int64_t i = 0; i < want.cols(); ++i) {
      d.max_abs = std::max(d.max_abs, double(std::fabs(g[i] - w[i])));
      if (g[i] > g[ag]) ag = i;
      if (w[i] > w[aw]) aw = i;
    }
    d.argmax_same = d.argmax_same && ag == aw;
  }
  return d;
}

inline double max_magnitude(const Tensor& t) {
  double m = 0;
  for (int64_t r = 0; r < t.rows(); ++r)
    for (int64_t c = 0; c < t.cols(); ++c) m = std::max(m, double(std::fabs(t.row<float>(r)[c])));
  return m;
}

inline int32_t argmax_row(const Tensor& logits, int64_t row) {
  const float* p = logits.row<float>(row);
  int32_t best = 0;
  for (int64_t i = 1; i < logits.cols(); ++i)
    if (p[i] > p[best]) best = int32_t(i);
  return best;
}

// Greedy decoding with any forward(tokens, pos0) that returns last-token logits.
inline std::vector<int32_t> greedy(const std::function<Tensor(std::span<const int32_t>, int64_t)>& forward,
                                   const std::vector<int32_t>& prompt, int n) {
  std::vector<int32_t> out;
  Tensor logits = forward(prompt, 0);
  for (int i = 0; i < n; ++i) {
    out.push_back(argmax_row(logits, 0));
    if (i + 1 < n) logits = forward({&out.back(), 1}, int64_t(prompt.size() + out.size() - 1));
  }
  return out;
}

}  // namespace llmr::testing
