#pragma once
// Keys and values of every layer for one sequence: [n_ctx, n_head_kv * head_dim] per layer.
#include <memory>
#include <vector>

#include "model/kv_store.h"
#include "model/model_config.h"
#include "ops/backend.h"

namespace llmr {

class KvCache final : public KvStore {
 public:
  // Allocated in the backend's memory; the default backend's is host memory.
  KvCache(const ModelConfig& config, int64_t n_ctx, DType type = DType::F16, Backend* backend = nullptr);

  int64_t n_ctx() const { return n_ctx_; }
  DType type() const { return type_; }
  Tensor k(int64_t layer) const { return k_[size_t(layer)]->tensor(); }
  Tensor v(int64_t layer) const { return v_[size_t(layer)]->tensor(); }
  size_t bytes() const;

  void attend(Backend& ops, int64_t layer, std::span<const KvRows> seqs, std::span<const int32_t> positions,
              const AttentionSpec& spec, const Tensor& q, const Tensor& k, const Tensor& v,
              const Tensor& attn) override;
  // Writes k and v, the rows of positions pos0, pos0+1, ..., into layer `layer`.
  void store(Backend& ops, int64_t layer, int64_t pos0, const Tensor& k, const Tensor& v);
  // Keys and values of positions [0, rows) of layer `layer`.
  std::pair<Tensor, Tensor> view(int64_t layer, int64_t rows) const;
  int64_t capacity(size_t) const override { return n_ctx_; }

 private:
  int64_t n_ctx_;
  DType type_;
  std::vector<std::unique_ptr<Buffer>> k_, v_;
};

}  // namespace llmr
