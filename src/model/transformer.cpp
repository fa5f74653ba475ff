#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

namespace llmr {

struct Transformer::Scratch {
  std::unique_ptr<Buffer> x, h, q, k, v, attn, gate, up, selected, logits;
  std::unique_ptr<Buffer> qkv, gate_up;  // the stacked projections' outputs (null unless fused)
  // Where logits land when the backend's memory is not the host's (pinned on CUDA: a batch's
  // logits download at full link speed).
  std::unique_ptr<Buffer> logits_host;
};

// A recorded single-token step for the positions of one span: its inputs (token id, position) in
// pinned host memory, copied to the backend at the start of each replay.
struct Transformer::DecodeGraph {
  std::unique_ptr<Buffer> host_in, dev_in;  // I32 [2]: token id, position
  std::unique_ptr<Replay> replay;
  bool logits_written_to_host = false;  // the output head writes the pinned logits itself
};

namespace {

// On by default (a decode step of Llama-3-8B Q4_0 on the H200: 177 -> 332 tok/s); LLMR_CUDA_GRAPHS=0 disables.
bool graphs_requested() {
  const char* v = std::getenv("LLMR_CUDA_GRAPHS");
  return !(v && std::string(v) == "0");
}

// The cache rows a recorded step at `pos` attends over: 128, 256, 512, ... (the fewest that hold pos),
// at most the whole cache. Attention's grid is sized for the rows it is given, so a short context
// launches only the key splits it can use (H200, Q4_K tg128 in a 4096-token cache: 577 -> 592 t/s).
// LLMR_DECODE_SPANS=0: every step over the whole cache (one recording).
int64_t decode_span(int64_t pos, int64_t n_ctx) {
  static const bool spans = [] {
    const char* v = std::getenv("LLMR_DECODE_SPANS");
    return !(v && std::string(v) == "0");
  }();
  if (!spans) return n_ctx;
  int64_t span = 128;
  while (span < pos + 1) span *= 2;
  return std::min(span, n_ctx);
}

// Columns [begin, begin + count) of a 2-D f32 tensor, as a view with its row stride.
// Unchecked against t's own width: rope_q_and_k takes q's and k's columns as one range.
Tensor columns(const Tensor& t, int64_t begin, int64_t count) {
  Tensor v = Tensor::view(static_cast<float*>(t.data) + begin, DType::F32, {t.rows(), count}, t.device);
  v.stride[0] = t.row_stride();
  return v;
}

// rope(q), rope(k): one pass when k's columns follow q's in the same rows (the stacked q|k|v product).
template <typename RopeFn>
void rope_q_and_k(const Tensor& q, const Tensor& k, int head_dim, RopeFn&& rope) {
  const bool adjacent = k.data == static_cast<float*>(q.data) + q.cols() && k.row_stride() == q.row_stride();
  if (adjacent) return rope(columns(q, 0, q.cols() + k.cols()), int((q.cols() + k.cols()) / head_dim));
  rope(q, int(q.cols() / head_dim));
  rope(k, int(k.cols() / head_dim));
}

// Whether these matrices can be stacked into one: same type and input width, contiguous rows.
bool stackable(std::initializer_list<const Tensor*> ws) {
  const Tensor& first = **ws.begin();
  for (const Tensor* w : ws)
    if (!w->data || w->type != first.type || w->cols() != first.cols() || !w->is_contiguous()) return false;
  return true;
}

}  // namespace

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights, Backend& backend)
    : config_(config), backend_(backend), graphs_on_(graphs_requested()) {
  config_.validate();
  inv_freq_ = config_.rope_inv_freq(weights.rope_freq_factors.empty() ? nullptr : &weights.rope_freq_factors);
  weights_.token_embd = place(weights.token_embd);
  weights_.output_norm = place(weights.output_norm);
  weights_.output = weights.output.data == weights.token_embd.data ? weights_.token_embd : place_matmul(weights.output);
  for (const LayerWeights& l : weights.layers) {
    LayerWeights d;
    // Where upload copies anyway, q/k/v and gate/up become one matrix each: one product per block
    // instead of three and two (Llama-3-8B's 1024-row k and v products alone ran at a fifth of the
    // copy rate). Not with biases or per-head q/k norms, whose ops want q and k as separate tensors.
    const bool stack_qkv = backend_.upload_copies() && !config_.qkv_bias && !config_.qk_norm &&
                           stackable({&l.wq, &l.wk, &l.wv});
    const bool stack_ffn = backend_.upload_copies() && stackable({&l.w_gate, &l.w_up});
    if (stack_qkv) {
      d.wqkv = place_stacked({&l.wq, &l.wk, &l.wv});
      d.wq = d.wqkv.slice_rows(0, l.wq.rows());
      d.wk = d.wqkv.slice_rows(l.wq.rows(), l.wk.rows());
      d.wv = d.wqkv.slice_rows(l.wq.rows() + l.wk.rows(), l.wv.rows());
    }
    if (stack_ffn) {
      d.w_gate_up = place_stacked({&l.w_gate, &l.w_up});
      d.w_gate = d.w_gate_up.slice_rows(0, l.w_gate.rows());
      d.w_up = d.w_gate_up.slice_rows(l.w_gate.rows(), l.w_up.rows());
    }
    for (auto [dst, src] : {std::pair{&d.attn_norm, &l.attn_norm}, {&d.bq, &l.bq}, {&d.bk, &l.bk}, {&d.bv, &l.bv},
                            {&d.q_norm, &l.q_norm}, {&d.k_norm, &l.k_norm}, {&d.ffn_norm, &l.ffn_norm}})
      if (src->data) *dst = place(*src);
    for (auto [dst, src] : {std::pair{&d.wq, &l.wq}, {&d.wk, &l.wk}, {&d.wv, &l.wv}, {&d.wo, &l.wo},
                            {&d.w_gate, &l.w_gate}, {&d.w_up, &l.w_up}, {&d.w_down, &l.w_down}})
      if (src->data && !dst->data) *dst = place_matmul(*src);  // stacked ones are placed already
    stacked_ = stacked_ || stack_qkv || stack_ffn;
    weights_.layers.push_back(d);
  }
}


Tensor Transformer::place_stacked(std::initializer_list<const Tensor*> parts) {
  int64_t rows = 0;
  for (const Tensor* w : parts) rows += w->rows();
  const Tensor& first = **parts.begin();
  HostBuffer host(first.type, {rows, first.cols()});
  char* dst = static_cast<char*>(host.data());
  for (const Tensor* w : parts) {
    const size_t bytes = size_t(w->rows()) * row_bytes(w->type, w->cols());
    std::memcpy(dst, w->data, bytes);
    dst += bytes;
  }
  return place_matmul(host.tensor());  // upload copies: the staging buffer may go
}

Tensor Transformer::place(const Tensor& host_weight) {
  placed_.push_back(backend_.upload(host_weight));
  return placed_.back()->tensor();
}

Tensor Transformer::place_matmul(const Tensor& host_weight) {
  placed_.push_back(backend_.upload_matmul_weight(host_weight));
  return placed_.back()->tensor();
}

Transformer::~Transformer() = default;

void Transformer::reserve(int64_t n, int64_t n_out) {
  if (!scratch_) scratch_ = std::make_unique<Scratch>();
  Scratch& s = *scratch_;
  const auto& c = config_;
  // Both grow geometrically (batches change size every step); logits only for the rows that return
  // them, since a server step of 4096 prompt rows asks for one row per sequence.
  if (n > capacity_) {
    n = std::max(n, 2 * capacity_);
    const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
    auto buf = [&](int64_t cols) { return backend_.alloc(DType::F32, {n, cols}); };
    s.x = buf(c.n_embd), s.h = buf(c.n_embd), s.q = buf(q_dim), s.k = buf(kv_dim), s.v = buf(kv_dim);
    s.attn = buf(q_dim), s.gate = buf(c.n_ff), s.up = buf(c.n_ff);
    s.qkv = stacked_ ? buf(q_dim + 2 * kv_dim) : nullptr;
    s.gate_up = stacked_ ? buf(2 * c.n_ff) : nullptr;
    capacity_ = n;
  }
  if (n_out > out_capacity_) {
    n_out = std::max(n_out, 2 * out_capacity_);
    s.selected = backend_.alloc(DType::F32, {n_out, c.n_embd});
    s.logits = backend_.alloc(DType::F32, {n_out, c.n_vocab});
    s.logits_host = backend_.alloc_host_input(DType::F32, {n_out, c.n_vocab});
    out_capacity_ = n_out;
  }
}

int64_t Transformer::graph_kernels() const { return last_graph_ ? last_graph_->replay->kernels() : 0; }

std::vector<KernelTime> Transformer::time_step_kernels(int reps) {
  return last_graph_ ? last_graph_->replay->time_kernels(reps) : std::vector<KernelTime>{};
}

std::vector<KernelKnockout> Transformer::knockout_step_kernels(int reps) {
  return last_graph_ ? last_graph_->replay->knockout_kernels(reps) : std::vector<KernelKnockout>{};
}

void Transformer::set_decode_graphs(bool on) {
  graphs_on_ = on;
  if (!on) drop_graphs();
}

void Transformer::drop_graphs() {
  graphs_.clear();
  graph_buffers_.clear();
  last_graph_ = nullptr;
}

Tensor Transformer::forward(std::span<const int32_t> tokens, int64_t pos0, KvCache& cache, bool all_logits,
                            LogitsAt at) {
  if (graphs_on_ && tokens.size() == 1) return forward_graph(tokens[0], pos0, cache, at);
  const SequenceChunk chunk{tokens, pos0, 0, all_logits ? LogitRows::All : LogitRows::Last};
  return forward({&chunk, 1}, cache, at);
}

Tensor Transformer::forward(std::span<const SequenceChunk> chunks, KvStore& kv, LogitsAt at) {
  const auto& c = config_;
  // Every row of the batch: its token, its position, and which rows' logits come back.
  std::vector<int32_t> tokens, positions;
  std::vector<KvRows> seqs;
  std::vector<int64_t> out_rows;
  for (const SequenceChunk& ch : chunks) {
    const auto n = int64_t(ch.tokens.size());
    check(n > 0, "forward: a sequence with no tokens");
    check(ch.pos0 >= 0 && ch.pos0 + n <= kv.capacity(ch.seq),
          "context is full: " + std::to_string(ch.pos0 + n) + " tokens do not fit in a context of " +
              std::to_string(kv.capacity(ch.seq)));
    seqs.push_back({ch.seq, int64_t(tokens.size()), n, ch.pos0});
    for (int64_t t = 0; t < n; ++t) {
      const int32_t id = ch.tokens[size_t(t)];
      check(id >= 0 && id < c.n_vocab, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                           std::to_string(c.n_vocab));
      if (ch.logits == LogitRows::All || (ch.logits == LogitRows::Last && t == n - 1))
        out_rows.push_back(int64_t(tokens.size()));
      tokens.push_back(id);
      positions.push_back(int32_t(ch.pos0 + t));
    }
  }
  const auto T = int64_t(tokens.size());
  check(T > 0, "forward: no tokens");
  reserve(T, std::max<int64_t>(1, int64_t(out_rows.size())));
  Backend& ops = backend_;
  const AttentionSpec attention{int(c.n_head), int(c.n_head_kv), int(c.head_dim),
                                float(1.0 / std::sqrt(double(c.head_dim)))};
  const RopeSpec rope{int(c.head_dim), int(c.rope_dims), c.rope_layout, inv_freq_.data()};
  StepInputs in;
  in.embed = [&](const Tensor& x) { ops.embedding(weights_.token_embd, tokens, x); };
  in.attend = [&](int64_t l, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn, const Tensor& wo,
                  const Tensor& x, bool /*roped: never, no `project` here*/) {
    rope_q_and_k(q, k, int(c.head_dim), [&](const Tensor& t, int n_heads) { ops.rope(t, n_heads, positions, rope); });
    kv.attend(ops, l, seqs, positions, attention, q, k, v, attn);
    ops.matmul_add(attn, wo, x);
  };
  run_layers(T, in);
  Scratch& s = *scratch_;
  const auto n_out = int64_t(out_rows.size());
  if (n_out == 0) return s.logits_host->tensor().slice_rows(0, 0);
  // Output head: logits = W_out · norm(x) over the rows asked for (a view when they are adjacent).
  const Tensor x = s.x->tensor().slice_rows(0, T);
  Tensor last = x.slice_rows(out_rows[0], n_out);
  if (out_rows.back() - out_rows.front() + 1 != n_out) {
    last = s.selected->tensor().slice_rows(0, n_out);
    for (int64_t j = 0; j < n_out; ++j) ops.copy(x.slice_rows(out_rows[size_t(j)], 1), last.slice_rows(j, 1));
  }
  const Tensor logits = output_head(last);
  return at == LogitsAt::Host ? to_host(logits) : logits;
}

void Transformer::run_layers(int64_t T, const StepInputs& in) {
  const auto& c = config_;
  Backend& ops = backend_;
  Scratch& s = *scratch_;
  auto rows = [T](const std::unique_ptr<Buffer>& b) { return b->tensor().slice_rows(0, T); };
  Tensor x = rows(s.x), h = rows(s.h), q = rows(s.q), k = rows(s.k), v = rows(s.v), attn = rows(s.attn),
         gate = rows(s.gate), up = rows(s.up);
  // With stacked weights q, k, v (gate, up) are column ranges of one product's output.
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  const Tensor qkv = s.qkv ? rows(s.qkv) : Tensor{}, gate_up = s.gate_up ? rows(s.gate_up) : Tensor{};
  const Tensor q_alone = q, k_alone = k, v_alone = v, gate_alone = gate, up_alone = up;
  const float eps = float(c.rms_eps);
  // Views of q and k with one row per head, for Qwen3's per-head norm.
  auto per_head = [&](const Tensor& t, int64_t heads) {
    return Tensor::view(t.data, DType::F32, {T * heads, c.head_dim}, t.device);
  };

  in.embed(x);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = weights_.layers[size_t(l)];
    // Attention block: h = norm(x); x += Wo · attention(rope(Wq h), rope(Wk h), Wv h)
    const bool roped = in.project && w.wqkv.data && !c.qk_norm;  // rope and the KV write done by `project`
    if (w.wqkv.data) {
      if (roped) in.project(l, x, w.attn_norm, h, w.wqkv, qkv);
      else ops.rms_norm_matmul(x, w.attn_norm, eps, h, w.wqkv, qkv);
      q = columns(qkv, 0, q_dim), k = columns(qkv, q_dim, kv_dim), v = columns(qkv, q_dim + kv_dim, kv_dim);
    } else {
      q = q_alone, k = k_alone, v = v_alone;
      ops.rms_norm(x, w.attn_norm, eps, h);
      ops.matmul(h, w.wq, c.qkv_bias ? &w.bq : nullptr, q);
      ops.matmul(h, w.wk, c.qkv_bias ? &w.bk : nullptr, k);
      ops.matmul(h, w.wv, c.qkv_bias ? &w.bv : nullptr, v);
    }
    if (c.qk_norm) {
      ops.rms_norm(per_head(q, c.n_head), w.q_norm, eps, per_head(q, c.n_head));
      ops.rms_norm(per_head(k, c.n_head_kv), w.k_norm, eps, per_head(k, c.n_head_kv));
    }
    in.attend(l, q, k, v, attn, w.wo, x, roped);  // rope(q), rope(k), the KV cache write, attention, x += Wo · it
    // Feed-forward block: h = norm(x); x += W_down · (silu(W_gate h) * W_up h)
    if (w.w_gate_up.data) {
      ops.rms_norm_matmul(x, w.ffn_norm, eps, h, w.w_gate_up, gate_up);
      gate = columns(gate_up, 0, c.n_ff), up = columns(gate_up, c.n_ff, c.n_ff);
    } else {
      gate = gate_alone, up = up_alone;
      ops.rms_norm(x, w.ffn_norm, eps, h);
      ops.matmul(h, w.w_gate, nullptr, gate);
      ops.matmul(h, w.w_up, nullptr, up);
    }
    ops.swiglu_matmul_add(gate, up, w.w_down, x);
  }
}

Tensor Transformer::output_head(const Tensor& last, const Tensor& into) {
  Scratch& s = *scratch_;
  const int64_t n_out = last.rows();
  const Tensor normed = s.h->tensor().slice_rows(0, n_out);
  Tensor logits = into.data ? into : s.logits->tensor().slice_rows(0, n_out);
  backend_.rms_norm_matmul(last, weights_.output_norm, float(config_.rms_eps), normed, weights_.output, logits);
  return logits;
}

Tensor Transformer::to_host(const Tensor& logits) {
  if (logits.device == Device::Host) return logits;
  Tensor host = scratch_->logits_host->tensor().slice_rows(0, logits.rows());
  backend_.download(logits, host.data);
  return host;
}

Tensor Transformer::forward_graph(int32_t token, int64_t pos, KvCache& cache, LogitsAt at) {
  const auto& c = config_;
  check(pos >= 0 && pos + 1 <= cache.capacity(0), "context is full: " + std::to_string(pos + 1) +
                                                      " tokens do not fit in a context of " +
                                                      std::to_string(cache.capacity(0)));
  check(token >= 0 && token < c.n_vocab,
        "token id " + std::to_string(token) + " is outside the vocabulary of " + std::to_string(c.n_vocab));
  reserve(1, 1);
  Scratch& s = *scratch_;
  std::vector<const void*> fingerprint;
  for (int64_t l = 0; l < c.n_layer; ++l) fingerprint.insert(fingerprint.end(), {cache.k(l).data, cache.v(l).data});
  fingerprint.push_back(reinterpret_cast<const void*>(intptr_t(cache.n_ctx())));
  for (const auto* b : {&s.x, &s.h, &s.q, &s.k, &s.v, &s.attn, &s.gate, &s.up, &s.selected, &s.logits,
                        &s.logits_host, &s.qkv, &s.gate_up})
    fingerprint.push_back(*b ? (*b)->tensor().data : nullptr);

  const int32_t ids[1] = {token};
  if (graph_buffers_ != fingerprint) {
    // First step against these buffers: run it directly (uploads rope tables, settles the kernels'
    // one-time setup), and record from the next one on.
    drop_graphs();
    const SequenceChunk chunk{ids, pos, 0, LogitRows::Last};
    Tensor out = forward({&chunk, 1}, cache, at);
    graph_buffers_ = std::move(fingerprint);
    return out;
  }
  const int64_t span = decode_span(pos, cache.n_ctx());
  // Logits wanted in host memory: the recorded output head writes them there where the backend lets
  // it, so no download follows; a step for logits left in the backend's memory is recorded apart.
  const Tensor host_logits = s.logits_host->tensor().slice_rows(0, 1);
  std::unique_ptr<DecodeGraph>& slot = graphs_[{span, at == LogitsAt::Host}];
  if (!slot) {
    slot = std::make_unique<DecodeGraph>();
    slot->host_in = backend_.alloc_host_input(DType::I32, {2});
    slot->dev_in = backend_.alloc(DType::I32, {2});
  }
  DecodeGraph& g = *slot;
  const Tensor host_in = g.host_in->tensor();
  // The previous replay has finished (its logits were downloaded, or sampled and the ids downloaded):
  // the pinned inputs are free to change.
  static_cast<int32_t*>(host_in.data)[0] = token;
  static_cast<int32_t*>(host_in.data)[1] = int32_t(pos);
  if (!g.replay) {
    if (!backend_.begin_capture()) {  // this backend cannot record: every step runs directly
      graphs_on_ = false;
      drop_graphs();
      const SequenceChunk chunk{ids, pos, 0, LogitRows::Last};
      return forward({&chunk, 1}, cache, at);
    }
    try {
      Backend& ops = backend_;
      const Tensor dev_in = g.dev_in->tensor();
      const Tensor dev_id = Tensor::view(dev_in.data, DType::I32, {1}, dev_in.device);
      const Tensor dev_pos = Tensor::view(static_cast<int32_t*>(dev_in.data) + 1, DType::I32, {1}, dev_in.device);
      const AttentionSpec attention{int(c.n_head), int(c.n_head_kv), int(c.head_dim),
                                    float(1.0 / std::sqrt(double(c.head_dim)))};
      const RopeSpec rope{int(c.head_dim), int(c.rope_dims), c.rope_layout, inv_freq_.data()};
      StepInputs in;
      in.embed = [&](const Tensor& x) { ops.embedding_from(weights_.token_embd, dev_id, x); };
      // The span's rows as keys: the kernels stop at the position they read.
      in.project = [&](int64_t l, const Tensor& x, const Tensor& norm_w, const Tensor& h, const Tensor& wqkv,
                       const Tensor& qkv) {
        ops.rms_norm_matmul_rope_store_kv(x, norm_w, float(c.rms_eps), h, wqkv, qkv, c.n_head_kv * c.head_dim, dev_pos,
                                          rope, cache.k(l), cache.v(l));
      };
      in.attend = [&](int64_t l, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn,
                      const Tensor& wo, const Tensor& x, bool roped) {
        if (!roped) ops.rope_store_kv(q, k, v, dev_pos, rope, cache.k(l), cache.v(l));
        const auto [keys, values] = cache.view(l, span);
        ops.attention_matmul_add(q, keys, values, dev_pos, attention, attn, wo, x);
      };
      ops.copy_from_host_input(host_in, dev_in);
      run_layers(1, in);
      const Tensor logits_into = at == LogitsAt::Host ? backend_.written_from_device(host_logits) : Tensor{};
      output_head(s.x->tensor().slice_rows(0, 1), logits_into);
      g.logits_written_to_host = logits_into.data != nullptr;
      g.replay = backend_.end_capture();
      ++graphs_recorded_;
    } catch (...) {
      backend_.abort_capture();
      drop_graphs();
      throw;
    }
  }
  g.replay->replay();
  last_graph_ = &g;
  ++graph_replays_;
  if (g.logits_written_to_host) {
    backend_.synchronize();
    return host_logits;
  }
  const Tensor logits = s.logits->tensor().slice_rows(0, 1);
  return at == LogitsAt::Host ? to_host(logits) : logits;
}

}  // namespace llmr
