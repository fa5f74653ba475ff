#include "model/kv_cache.h"

namespace llmr {

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx, DType type, Backend* backend) : n_ctx_(n_ctx), type_(type) {
  check(n_ctx > 0 && n_ctx <= (int64_t(1) << 24), "context size " + std::to_string(n_ctx) + " is out of range");
  check(type == DType::F32 || type == DType::F16 || type == DType::Q8_0,
        std::string("KV cache type must be f32, f16 or q8_0, not ") + name(type));
  check(type != DType::Q8_0 || c.head_dim % 32 == 0,
        "KV cache type q8_0 needs head_dim in whole blocks of 32; this model's head_dim is " +
            std::to_string(c.head_dim));
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    k_.push_back(backend ? backend->alloc(type, {n_ctx, kv_dim}) : alloc_host(type, {n_ctx, kv_dim}));
    v_.push_back(backend ? backend->alloc(type, {n_ctx, kv_dim}) : alloc_host(type, {n_ctx, kv_dim}));
  }
}

void KvCache::attend(Backend& ops, int64_t layer, std::span<const KvRows> seqs, std::span<const int32_t> positions,
                     const AttentionSpec& spec, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn) {
  for (const KvRows& s : seqs) {
    check(s.seq == 0, "a KvCache holds one sequence");
    store(ops, layer, s.pos0, k.slice_rows(s.first_row, s.n), v.slice_rows(s.first_row, s.n));
    const auto [keys, values] = view(layer, s.pos0 + s.n);
    ops.attention(q.slice_rows(s.first_row, s.n), keys, values, positions.subspan(size_t(s.first_row), size_t(s.n)),
                  spec, attn.slice_rows(s.first_row, s.n));
  }
}

void KvCache::store(Backend& ops, int64_t layer, int64_t pos0, const Tensor& k, const Tensor& v) {
  ops.copy(k, this->k(layer).slice_rows(pos0, k.rows()));
  ops.copy(v, this->v(layer).slice_rows(pos0, v.rows()));
}

std::pair<Tensor, Tensor> KvCache::view(int64_t layer, int64_t rows) const {
  return {k(layer).slice_rows(0, rows), v(layer).slice_rows(0, rows)};
}

size_t KvCache::bytes() const {
  size_t n = 0;
  for (size_t i = 0; i < k_.size(); ++i) n += 2 * size_t(k_[i]->tensor().rows()) * row_bytes(type_, k_[i]->tensor().cols());
  return n;
}

}  // namespace llmr
