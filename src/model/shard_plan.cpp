#include "model/shard_plan.h"

#include <cstring>

#include "core/error.h"
#include "model/tensor_names.h"

namespace llmr {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Column splits of quantized weights must fall on block boundaries: a block cannot be divided.
void check_col_split(const Tensor& t, int64_t per_rank, const std::string& what, int n) {
  const int64_t block = info(t.type).block_elems;
  check(per_rank % block == 0,
        "tensor parallel: " + what + " (" + t.describe() + ") would be split into " + str(n) + " column slices of " +
            str(per_rank) + ", which is not a whole number of " + name(t.type) + " blocks of " + str(block) +
            "; use a degree whose slice is a multiple of " + str(block) + " or an unquantized model");
}

}  // namespace

ShardPlan::ShardPlan(const ModelConfig& c, const ModelWeights& w, int n) : config_(c) {
  c.validate();
  check(n >= 1, "tensor parallel degree must be at least 1 (got " + str(n) + ")");
  check(c.n_head_kv % n == 0, "tensor parallel: the model has " + str(c.n_head_kv) +
                                  " key/value heads, which cannot be split evenly over " + str(n) +
                                  " ranks (each rank needs whole KV groups); use a degree that divides " +
                                  str(c.n_head_kv));
  check(c.n_ff % n == 0, "tensor parallel: the feed-forward length " + str(c.n_ff) + " is not divisible by " +
                             str(n) + " ranks");
  check(c.n_vocab >= n, "tensor parallel: a vocabulary of " + str(c.n_vocab) + " cannot be split over " + str(n) +
                            " ranks");
  check(int64_t(w.layers.size()) == c.n_layer, "tensor parallel: the weights have " + str(int64_t(w.layers.size())) +
                                                   " layers, the config " + str(c.n_layer));
  const int64_t heads = c.n_head / n, kv_heads = c.n_head_kv / n, ff = c.n_ff / n;
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& lw = w.layers[size_t(l)];
    check_col_split(lw.wo, heads * c.head_dim, layer_tensor(l, "attn_output.weight"), n);
    check_col_split(lw.w_down, ff, layer_tensor(l, "ffn_down.weight"), n);
  }
  for (int r = 0; r < n; ++r) {
    RankSlice s;
    s.head_begin = r * heads, s.n_head = heads;
    s.kv_head_begin = r * kv_heads, s.n_head_kv = kv_heads;
    s.ff_begin = r * ff, s.n_ff = ff;
    s.vocab_begin = c.n_vocab * r / n;  // floor split: sizes differ by at most one
    s.n_vocab = c.n_vocab * (r + 1) / n - s.vocab_begin;
    slices_.push_back(s);
  }
}

ModelConfig ShardPlan::rank_config(int rank) const {
  const RankSlice& s = slice(rank);
  ModelConfig c = config_;
  c.n_head = s.n_head;
  c.n_head_kv = s.n_head_kv;
  c.n_ff = s.n_ff;
  c.n_vocab = s.n_vocab;
  return c;
}

Tensor shard_rows(const Tensor& t, int64_t begin, int64_t count) {
  check(t.data != nullptr, "shard_rows: empty tensor");
  if (t.ndim == 1) {
    check(begin >= 0 && count >= 0 && begin + count <= t.shape[0], "row slice out of range of " + t.describe());
    check(!info(t.type).quantized, "shard_rows: cannot slice a quantized vector " + t.describe());
    const size_t esize = row_bytes(t.type, 1);
    Tensor v = t;
    v.data = static_cast<char*>(t.data) + size_t(begin) * esize;
    v.shape[0] = count;
    return v;
  }
  return t.slice_rows(begin, count);
}

Tensor shard_cols(const Tensor& t, int64_t begin, int64_t count, const std::string& what,
                  std::vector<std::unique_ptr<HostBuffer>>& owned) {
  check(t.device == Device::Host, "shard_cols: " + what + " is not in host memory");
  const Tensor m = t.as_matrix();
  check(begin >= 0 && count > 0 && begin + count <= m.cols(),
        "shard_cols: columns [" + str(begin) + ", " + str(begin + count) + ") out of range of " + what + " " +
            t.describe());
  const int64_t block = info(t.type).block_elems;
  check(begin % block == 0 && count % block == 0,
        "tensor parallel: cannot split " + what + " (" + t.describe() + ") at column " + str(begin) + " with " +
            str(count) + " columns: " + name(t.type) + " blocks hold " + str(block) + " values");
  if (begin == 0 && count == m.cols()) return m;  // degree 1: the whole weight, still zero-copy
  auto buf = std::make_unique<HostBuffer>(t.type, std::vector<int64_t>{m.rows(), count});
  const Tensor out = buf->tensor();
  const size_t skip = row_bytes(t.type, begin), len = row_bytes(t.type, count);
  for (int64_t r = 0; r < m.rows(); ++r) std::memcpy(out.row(r), m.row<char>(r) + skip, len);
  owned.push_back(std::move(buf));
  return out;
}

ShardedWeights shard_weights(const ShardPlan& plan, const ModelWeights& full, int rank) {
  const ModelConfig& c = plan.config();
  const RankSlice& s = plan.slice(rank);
  ShardedWeights out;
  out.config = plan.rank_config(rank);
  ModelWeights& w = out.weights;
  const int64_t hd = c.head_dim;
  w.token_embd = shard_rows(full.token_embd, s.vocab_begin, s.n_vocab);
  w.output_norm = full.output_norm;
  out.tied = full.output.data == full.token_embd.data;
  w.output = out.tied ? w.token_embd : shard_rows(full.output, s.vocab_begin, s.n_vocab);
  w.rope_freq_factors = full.rope_freq_factors;
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& f = full.layers[size_t(l)];
    LayerWeights d;
    d.attn_norm = f.attn_norm;
    d.ffn_norm = f.ffn_norm;
    d.q_norm = f.q_norm;  // per head_dim: identical for every head, so replicated
    d.k_norm = f.k_norm;
    d.wq = shard_rows(f.wq, s.head_begin * hd, s.n_head * hd);
    d.wk = shard_rows(f.wk, s.kv_head_begin * hd, s.n_head_kv * hd);
    d.wv = shard_rows(f.wv, s.kv_head_begin * hd, s.n_head_kv * hd);
    if (f.bq.data) d.bq = shard_rows(f.bq, s.head_begin * hd, s.n_head * hd);
    if (f.bk.data) d.bk = shard_rows(f.bk, s.kv_head_begin * hd, s.n_head_kv * hd);
    if (f.bv.data) d.bv = shard_rows(f.bv, s.kv_head_begin * hd, s.n_head_kv * hd);
    d.wo = shard_cols(f.wo, s.head_begin * hd, s.n_head * hd, layer_tensor(l, "attn_output.weight"), w.owned);
    d.w_gate = shard_rows(f.w_gate, s.ff_begin, s.n_ff);
    d.w_up = shard_rows(f.w_up, s.ff_begin, s.n_ff);
    d.w_down = shard_cols(f.w_down, s.ff_begin, s.n_ff, layer_tensor(l, "ffn_down.weight"), w.owned);
    w.layers.push_back(d);
  }
  return out;
}

}  // namespace llmr
