#include "runtime/tp_transformer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

namespace llmr {

// One rank: its shard of the weights in its backend's memory, and its activations.
struct TensorParallelTransformer::Rank {
  Backend* backend = nullptr;
  ShardedWeights shard;
  ModelWeights placed;  // shard.weights as the backend sees them
  std::vector<std::unique_ptr<Buffer>> buffers;
  HostBuffer zero_host;                  // one zero row of n_embd: embedding rows of other ranks' tokens
  std::unique_ptr<Buffer> zero_row;
  std::unique_ptr<Buffer> x, h, q, k, v, attn, o, gate, up, act, emb, logits;
  HostBuffer logits_local_host, logits_full;
  int64_t capacity = 0;

  Tensor place(const Tensor& t) {
    buffers.push_back(backend->upload(t));
    return buffers.back()->tensor();
  }
};

TensorParallelTransformer::TensorParallelTransformer(const ModelConfig& config, const ModelWeights& weights,
                                                     std::vector<Backend*> backends)
    : config_(config), plan_(config, weights, int(backends.size())), group_(int(backends.size())) {
  for (size_t i = 0; i < backends.size(); ++i) {
    check(backends[i] != nullptr, "tensor parallel: rank " + std::to_string(i) + " has no backend");
    for (size_t j = 0; j < i; ++j)
      check(backends[i] != backends[j], "tensor parallel: ranks " + std::to_string(j) + " and " +
                                            std::to_string(i) + " share one backend; each rank needs its own");
  }
  inv_freq_ = config_.rope_inv_freq(weights.rope_freq_factors.empty() ? nullptr : &weights.rope_freq_factors);
  for (int r = 0; r < plan_.n_ranks(); ++r) {
    auto rank = std::make_unique<Rank>();
    rank->backend = backends[size_t(r)];
    rank->shard = shard_weights(plan_, weights, r);
    const ModelWeights& s = rank->shard.weights;
    ModelWeights& d = rank->placed;
    d.token_embd = rank->place(s.token_embd);
    d.output_norm = rank->place(s.output_norm);
    d.output = rank->shard.tied ? d.token_embd : rank->place(s.output);
    for (const LayerWeights& l : s.layers) {
      LayerWeights p;
      for (auto [dst, src] : {std::pair{&p.attn_norm, &l.attn_norm}, {&p.wq, &l.wq}, {&p.wk, &l.wk}, {&p.wv, &l.wv},
                              {&p.wo, &l.wo}, {&p.bq, &l.bq}, {&p.bk, &l.bk}, {&p.bv, &l.bv}, {&p.q_norm, &l.q_norm},
                              {&p.k_norm, &l.k_norm}, {&p.ffn_norm, &l.ffn_norm}, {&p.w_gate, &l.w_gate},
                              {&p.w_up, &l.w_up}, {&p.w_down, &l.w_down}})
        if (src->data) *dst = rank->place(*src);
      d.layers.push_back(p);
    }
    rank->zero_host = HostBuffer(DType::F32, {1, config_.n_embd});
    std::memset(rank->zero_host.data(), 0, size_t(config_.n_embd) * sizeof(float));
    rank->zero_row = rank->backend->upload(rank->zero_host.tensor());
    ranks_.push_back(std::move(rank));
  }
}

TensorParallelTransformer::~TensorParallelTransformer() = default;

std::unique_ptr<TpKvCache> TensorParallelTransformer::new_cache(int64_t n_ctx, DType type) const {
  auto cache = std::make_unique<TpKvCache>();
  for (int r = 0; r < degree(); ++r)
    cache->ranks_.push_back(std::make_unique<KvCache>(plan_.rank_config(r), n_ctx, type, ranks_[size_t(r)]->backend));
  return cache;
}

Tensor TensorParallelTransformer::forward(std::span<const int32_t> tokens, int64_t pos0, TpKvCache& cache,
                                          bool all_logits) {
  const auto T = int64_t(tokens.size());
  check(T > 0, "forward: no tokens");
  check(cache.degree() == degree(), "tensor parallel: the KV cache has " + std::to_string(cache.degree()) +
                                        " ranks, the model " + std::to_string(degree()));
  check(pos0 >= 0 && pos0 + T <= cache.n_ctx(),
        "context is full: " + std::to_string(pos0 + T) + " tokens do not fit in a context of " +
            std::to_string(cache.n_ctx()));
  for (int32_t id : tokens)
    check(id >= 0 && id < config_.n_vocab, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                               std::to_string(config_.n_vocab));
  group_.reset();
  if (degree() == 1) {
    rank_forward(0, tokens, pos0, cache.rank(0), all_logits);
  } else {
    std::mutex mu;
    std::exception_ptr first;
    auto run = [&](int r) {
      try {
        rank_forward(r, tokens, pos0, cache.rank(r), all_logits);
      } catch (...) {
        {
          std::lock_guard lock(mu);
          if (!first) first = std::current_exception();  // the failing rank records before aborting the rest
        }
        group_.abort();
      }
    };
    std::vector<std::thread> threads;
    for (int r = 1; r < degree(); ++r) threads.emplace_back(run, r);
    run(0);
    for (auto& t : threads) t.join();
    if (first) std::rethrow_exception(first);
  }
  return ranks_[0]->logits_full.tensor().slice_rows(0, all_logits ? T : 1);
}

void TensorParallelTransformer::rank_forward(int r, std::span<const int32_t> tokens, int64_t pos0, KvCache& cache,
                                             bool all_logits) {
  Rank& R = *ranks_[size_t(r)];
  const ModelConfig& c = R.shard.config;  // this rank's heads, kv heads, n_ff and vocabulary
  const RankSlice& slice = plan_.slice(r);
  AllReduce& comm = group_.rank(r);
  Backend& ops = *R.backend;
  const auto T = int64_t(tokens.size());
  // Rank 0 alone times its collectives (the wait for the slowest rank included), so no race.
  auto timed = [&](auto&& collective) {
    const auto t0 = std::chrono::steady_clock::now();
    collective();
    if (r == 0) collective_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };

  if (T > R.capacity) {
    const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
    auto buf = [&](int64_t cols) { return ops.alloc(DType::F32, {T, cols}); };
    R.x = buf(c.n_embd), R.h = buf(c.n_embd), R.q = buf(q_dim), R.k = buf(kv_dim), R.v = buf(kv_dim);
    R.attn = buf(q_dim), R.o = buf(c.n_embd), R.gate = buf(c.n_ff), R.up = buf(c.n_ff), R.act = buf(c.n_ff);
    R.emb = buf(c.n_embd), R.logits = buf(c.n_vocab);
    R.logits_local_host = HostBuffer(DType::F32, {T, c.n_vocab});
    R.logits_full = HostBuffer(DType::F32, {T, config_.n_vocab});
    R.capacity = T;
  }
  auto rows = [T](const std::unique_ptr<Buffer>& b) { return b->tensor().slice_rows(0, T); };
  Tensor x = rows(R.x), h = rows(R.h), q = rows(R.q), k = rows(R.k), v = rows(R.v), attn = rows(R.attn),
         o = rows(R.o), gate = rows(R.gate), up = rows(R.up), act = rows(R.act);
  std::vector<int32_t> positions(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) positions[size_t(t)] = int32_t(pos0 + t);
  const RopeSpec rope{int(c.head_dim), int(c.rope_dims), c.rope_layout, inv_freq_.data()};
  const AttentionSpec attention{int(c.n_head), int(c.n_head_kv), int(c.head_dim),
                                float(1.0 / std::sqrt(double(c.head_dim)))};
  const float eps = float(c.rms_eps);
  auto per_head = [&](const Tensor& t, int64_t heads) {
    return Tensor::view(t.data, DType::F32, {T * heads, c.head_dim}, t.device);
  };
  const ModelWeights& W = R.placed;

  // Vocabulary-parallel embedding: rows of this rank's tokens, zeros for the others, then a sum.
  std::vector<int32_t> local_ids;
  std::vector<int64_t> local_rows;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t id = tokens[size_t(t)] - slice.vocab_begin;
    if (id >= 0 && id < slice.n_vocab) local_ids.push_back(int32_t(id)), local_rows.push_back(t);
  }
  if (int64_t(local_ids.size()) == T) {
    ops.embedding(W.token_embd, local_ids, x);
  } else {
    const Tensor emb = R.emb->tensor();
    if (!local_ids.empty()) ops.embedding(W.token_embd, local_ids, emb.slice_rows(0, int64_t(local_ids.size())));
    size_t j = 0;
    for (int64_t t = 0; t < T; ++t) {
      const bool mine = j < local_rows.size() && local_rows[j] == t;
      ops.copy(mine ? emb.slice_rows(int64_t(j), 1) : R.zero_row->tensor(), x.slice_rows(t, 1));
      j += mine;
    }
  }
  timed([&] { comm.sum(x); });

  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = W.layers[size_t(l)];
    // Attention over this rank's heads; wo's column slice gives a partial sum of the full output.
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
    ops.copy(k, cache.k(l).slice_rows(pos0, T));
    ops.copy(v, cache.v(l).slice_rows(pos0, T));
    ops.attention(q, cache.k(l), cache.v(l), positions, attention, attn);
    ops.matmul(attn, w.wo, nullptr, o);
    timed([&] { comm.sum(o); });
    // Feed-forward over this rank's FFN rows; w_down's column slice gives a partial sum.
    ops.rms_norm_residual(o, x, w.ffn_norm, eps, x, h);
    ops.matmul(h, w.w_gate, nullptr, gate);
    ops.matmul(h, w.w_up, nullptr, up);
    ops.swiglu(gate, up, act);
    ops.matmul(act, w.w_down, nullptr, o);
    timed([&] { comm.sum(o); });
    ops.add(x, o, x);
  }
  // Vocabulary-parallel output head: each rank's logits columns, gathered side by side.
  const Tensor last = all_logits ? x : x.slice_rows(T - 1, 1);
  const Tensor normed = all_logits ? h : h.slice_rows(0, 1);
  ops.rms_norm(last, W.output_norm, eps, normed);
  Tensor logits = R.logits->tensor().slice_rows(0, normed.rows());
  ops.matmul(normed, W.output, nullptr, logits);
  if (logits.device != Device::Host) {
    Tensor host = R.logits_local_host.tensor().slice_rows(0, logits.rows());
    ops.download(logits, host.data);
    logits = host;
  }
  const Tensor full = R.logits_full.tensor().slice_rows(0, logits.rows());
  timed([&] { comm.gather_columns(logits, slice.vocab_begin, full); });
}

}  // namespace llmr
