#include "runtime/batched_forward.h"

namespace llmr {
namespace {

// The KvStore view of a paged cache for one step: sequence i's rows live in items[i].blocks.
class PagedKvStore final : public KvStore {
 public:
  PagedKvStore(PagedKvCache& cache, std::span<const BatchItem> items, const Tensor& k_gather, const Tensor& v_gather)
      : cache_(cache), items_(items), k_gather_(k_gather), v_gather_(v_gather) {}

  void store(Backend& ops, int64_t layer, size_t seq, int64_t pos0, const Tensor& k, const Tensor& v) override {
    const int64_t bs = cache_.block_size(), n = k.rows();
    const Tensor kp = cache_.k(layer), vp = cache_.v(layer);
    // One copy per block touched.
    for (int64_t t = 0; t < n;) {
      const int64_t p = pos0 + t, off = p % bs, run = std::min(n - t, bs - off);
      const int64_t dst = int64_t(items_[seq].blocks[size_t(p / bs)]) * bs + off;
      ops.copy(k.slice_rows(t, run), kp.slice_rows(dst, run));
      ops.copy(v.slice_rows(t, run), vp.slice_rows(dst, run));
      t += run;
    }
  }

  std::pair<Tensor, Tensor> view(Backend& ops, int64_t layer, size_t seq, int64_t rows) override {
    return {gather(ops, cache_.k(layer), seq, rows, k_gather_), gather(ops, cache_.v(layer), seq, rows, v_gather_)};
  }

  int64_t capacity(size_t seq) const override { return int64_t(items_[seq].blocks.size()) * cache_.block_size(); }

 private:
  // Rows [0, rows) of sequence seq: a view when its blocks are adjacent, else copied into scratch.
  Tensor gather(Backend& ops, const Tensor& pool, size_t seq, int64_t rows, const Tensor& scratch) const {
    const int64_t bs = cache_.block_size(), n_blocks = (rows + bs - 1) / bs;
    const auto blocks = items_[seq].blocks;
    bool adjacent = true;
    for (int64_t i = 1; i < n_blocks; ++i) adjacent &= blocks[size_t(i)] == blocks[0] + i;
    if (adjacent) return pool.slice_rows(int64_t(blocks[0]) * bs, rows);
    for (int64_t i = 0; i < n_blocks; ++i) {
      const int64_t r = std::min(bs, rows - i * bs);
      ops.copy(pool.slice_rows(int64_t(blocks[size_t(i)]) * bs, r), scratch.slice_rows(i * bs, r));
    }
    return scratch.slice_rows(0, rows);
  }

  PagedKvCache& cache_;
  std::span<const BatchItem> items_;
  Tensor k_gather_, v_gather_;
};

}  // namespace

Tensor BatchedForward::forward(std::span<const BatchItem> items, PagedKvCache& cache) {
  const ModelConfig& c = model_.config();
  std::vector<SequenceChunk> chunks;
  int64_t max_rows = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const BatchItem& it = items[i];
    chunks.push_back({it.tokens, it.pos0, i, it.want_logits ? LogitRows::Last : LogitRows::None});
    max_rows = std::max(max_rows, it.pos0 + int64_t(it.tokens.size()));
  }
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  if (!k_gather_ || k_gather_->tensor().rows() < max_rows || k_gather_->tensor().type != cache.type()) {
    const int64_t rows = std::max(max_rows, k_gather_ ? 2 * k_gather_->tensor().rows() : 0);
    k_gather_ = model_.backend().alloc(cache.type(), {rows, kv_dim});
    v_gather_ = model_.backend().alloc(cache.type(), {rows, kv_dim});
  }
  PagedKvStore kv(cache, items, k_gather_->tensor(), v_gather_->tensor());
  return model_.forward(chunks, kv);
}

}  // namespace llmr
