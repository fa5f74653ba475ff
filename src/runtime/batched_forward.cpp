#include "runtime/batched_forward.h"

#include <cmath>

namespace llmr {

struct BatchedForward::Scratch {
  std::unique_ptr<Buffer> x, h, q, k, v, attn, o, gate, up, act;
  std::unique_ptr<Buffer> last, normed, logits, k_gather, v_gather;
  HostBuffer logits_host;
};

BatchedForward::BatchedForward(const ModelConfig& config, const ModelWeights& weights, Backend& backend)
    : config_(config), backend_(backend) {
  config_.validate();
  inv_freq_ = config_.rope_inv_freq(weights.rope_freq_factors.empty() ? nullptr : &weights.rope_freq_factors);
  weights_.token_embd = place(weights.token_embd);
  weights_.output_norm = place(weights.output_norm);
  weights_.output = weights.output.data == weights.token_embd.data ? weights_.token_embd : place(weights.output);
  for (const LayerWeights& l : weights.layers) {
    LayerWeights d;
    for (auto [dst, src] : {std::pair{&d.attn_norm, &l.attn_norm}, {&d.wq, &l.wq}, {&d.wk, &l.wk}, {&d.wv, &l.wv},
                            {&d.wo, &l.wo}, {&d.bq, &l.bq}, {&d.bk, &l.bk}, {&d.bv, &l.bv}, {&d.q_norm, &l.q_norm},
                            {&d.k_norm, &l.k_norm}, {&d.ffn_norm, &l.ffn_norm}, {&d.w_gate, &l.w_gate},
                            {&d.w_up, &l.w_up}, {&d.w_down, &l.w_down}})
      if (src->data) *dst = place(*src);
    weights_.layers.push_back(d);
  }
  scratch_ = std::make_unique<Scratch>();
}

BatchedForward::~BatchedForward() = default;

Tensor BatchedForward::place(const Tensor& host_weight) {
  placed_.push_back(backend_.upload(host_weight));
  return placed_.back()->tensor();
}

void BatchedForward::reserve(int64_t n, int64_t n_out, int64_t kv_rows, DType kv_type) {
  const auto& c = config_;
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  auto buf = [&](int64_t rows, int64_t cols) { return backend_.alloc(DType::F32, {rows, cols}); };
  Scratch& s = *scratch_;
  if (n > capacity_) {
    n = std::max(n, 2 * capacity_);
    s.x = buf(n, c.n_embd), s.h = buf(n, c.n_embd), s.q = buf(n, q_dim), s.k = buf(n, kv_dim), s.v = buf(n, kv_dim);
    s.attn = buf(n, q_dim), s.o = buf(n, c.n_embd), s.gate = buf(n, c.n_ff), s.up = buf(n, c.n_ff);
    s.act = buf(n, c.n_ff);
    capacity_ = n;
  }
  if (n_out > out_capacity_) {
    n_out = std::max(n_out, 2 * out_capacity_);
    s.last = buf(n_out, c.n_embd), s.normed = buf(n_out, c.n_embd), s.logits = buf(n_out, c.n_vocab);
    s.logits_host = HostBuffer(DType::F32, {n_out, c.n_vocab});
    out_capacity_ = n_out;
  }
  if (kv_rows > kv_capacity_ || !s.k_gather || s.k_gather->tensor().type != kv_type) {
    kv_rows = std::max(kv_rows, kv_capacity_);
    s.k_gather = backend_.alloc(kv_type, {kv_rows, kv_dim});
    s.v_gather = backend_.alloc(kv_type, {kv_rows, kv_dim});
    kv_capacity_ = kv_rows;
  }
}

Tensor BatchedForward::kv_view(const Tensor& pool, std::span<const int32_t> blocks, int64_t rows, int64_t bs,
                               const Tensor& scratch) {
  const int64_t n_blocks = (rows + bs - 1) / bs;
  bool contiguous = true;
  for (int64_t i = 1; i < n_blocks; ++i) contiguous &= blocks[size_t(i)] == blocks[0] + i;
  if (contiguous) return pool.slice_rows(int64_t(blocks[0]) * bs, rows);
  for (int64_t i = 0; i < n_blocks; ++i) {
    const int64_t r = std::min(bs, rows - i * bs);
    backend_.copy(pool.slice_rows(int64_t(blocks[size_t(i)]) * bs, r), scratch.slice_rows(i * bs, r));
  }
  return scratch.slice_rows(0, rows);
}

Tensor BatchedForward::forward(std::span<const BatchItem> items, PagedKvCache& cache) {
  const auto& c = config_;
  const int64_t bs = cache.block_size();
  int64_t T = 0, n_out = 0, max_rows = 0;
  for (const BatchItem& it : items) {
    const auto n = int64_t(it.tokens.size());
    check(n > 0, "batched forward: a sequence with no tokens");
    check(it.pos0 >= 0 && int64_t(it.blocks.size()) * bs >= it.pos0 + n,
          "batched forward: the block table does not cover position " + std::to_string(it.pos0 + n - 1));
    for (int32_t id : it.tokens)
      check(id >= 0 && id < c.n_vocab, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                           std::to_string(c.n_vocab));
    T += n;
    n_out += it.want_logits ? 1 : 0;
    max_rows = std::max(max_rows, it.pos0 + n);
  }
  check(T > 0, "batched forward: no tokens");
  reserve(T, std::max<int64_t>(n_out, 1), max_rows, cache.type());
  Backend& ops = backend_;
  Scratch& s = *scratch_;
  auto rows = [T](const std::unique_ptr<Buffer>& b) { return b->tensor().slice_rows(0, T); };
  Tensor x = rows(s.x), h = rows(s.h), q = rows(s.q), k = rows(s.k), v = rows(s.v), attn = rows(s.attn),
         o = rows(s.o), gate = rows(s.gate), up = rows(s.up), act = rows(s.act);
  std::vector<int32_t> tokens, positions;
  std::vector<int64_t> first_row;  // each item's first row in the batch
  for (const BatchItem& it : items) {
    first_row.push_back(int64_t(tokens.size()));
    for (size_t t = 0; t < it.tokens.size(); ++t) {
      tokens.push_back(it.tokens[t]);
      positions.push_back(int32_t(it.pos0 + int64_t(t)));
    }
  }
  const RopeSpec rope{int(c.head_dim), int(c.rope_dims), c.rope_layout, inv_freq_.data()};
  const AttentionSpec attention{int(c.n_head), int(c.n_head_kv), int(c.head_dim),
                                float(1.0 / std::sqrt(double(c.head_dim)))};
  const float eps = float(c.rms_eps);
  auto per_head = [&](const Tensor& t, int64_t heads) {
    return Tensor::view(t.data, DType::F32, {T * heads, c.head_dim}, t.device);
  };

  ops.embedding(weights_.token_embd, tokens, x);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = weights_.layers[size_t(l)];
    ops.rms_norm(x, w.attn_norm, eps, h);
    ops.matmul(h, w.wq, c.qkv_bias ? &w.bq : nullptr, q);
    ops.matmul(h, w.wk, c.qkv_bias ? &w.bk : nullptr, k);
    ops.matmul(h, w.wv, c.qkv_bias ? &w.bv : nullptr, v);
    if (c.qk_norm) {
      ops.rms_norm(per_head(q, c.n_head), w.q_norm, eps, per_head(q, c.n_head));
      ops.rms_norm(per_head(k, c.n_head_kv), w.k_norm, eps, per_head(k, c.n_head_kv));
    }
    ops.rope(q, int(c.n_head), positions, rope);
    ops.rope(k, int(c.n_head_kv), positions, rope);
    const Tensor kp = cache.k(l), vp = cache.v(l);
    for (size_t i = 0; i < items.size(); ++i) {
      const BatchItem& it = items[i];
      const auto n = int64_t(it.tokens.size());
      // Store this sequence's new keys and values, one run per block touched.
      for (int64_t t = 0; t < n;) {
        const int64_t p = it.pos0 + t, off = p % bs;
        const int64_t run = std::min(n - t, bs - off);
        const int64_t dst = int64_t(it.blocks[size_t(p / bs)]) * bs + off;
        ops.copy(k.slice_rows(first_row[i] + t, run), kp.slice_rows(dst, run));
        ops.copy(v.slice_rows(first_row[i] + t, run), vp.slice_rows(dst, run));
        t += run;
      }
      const int64_t kv_rows = it.pos0 + n;
      const Tensor kc = kv_view(kp, it.blocks, kv_rows, bs, s.k_gather->tensor());
      const Tensor vc = kv_view(vp, it.blocks, kv_rows, bs, s.v_gather->tensor());
      ops.attention(q.slice_rows(first_row[i], n), kc, vc, std::span(positions).subspan(size_t(first_row[i]), size_t(n)),
                    attention, attn.slice_rows(first_row[i], n));
    }
    ops.matmul(attn, w.wo, nullptr, o);
    ops.rms_norm_residual(o, x, w.ffn_norm, eps, x, h);
    ops.matmul(h, w.w_gate, nullptr, gate);
    ops.matmul(h, w.w_up, nullptr, up);
    ops.swiglu(gate, up, act);
    ops.matmul(act, w.w_down, nullptr, o);
    ops.add(x, o, x);
  }
  if (n_out == 0) return Tensor::view(s.logits_host.data(), DType::F32, {0, c.n_vocab});
  // Output head over the last row of each sequence that wants logits.
  Tensor last = s.last->tensor().slice_rows(0, n_out), normed = s.normed->tensor().slice_rows(0, n_out);
  int64_t j = 0;
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].want_logits)
      ops.copy(x.slice_rows(first_row[i] + int64_t(items[i].tokens.size()) - 1, 1), last.slice_rows(j++, 1));
  ops.rms_norm(last, weights_.output_norm, eps, normed);
  Tensor logits = s.logits->tensor().slice_rows(0, n_out);
  ops.matmul(normed, weights_.output, nullptr, logits);
  if (logits.device == Device::Host) return logits;
  Tensor host = s.logits_host.tensor().slice_rows(0, n_out);
  ops.download(logits, host.data);
  return host;
}

}  // namespace llmr
