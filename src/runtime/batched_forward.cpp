#include "runtime/batched_forward.h"

#include <algorithm>
#include <cstring>

namespace llmr {
namespace {

// The KvStore view of a paged cache for one step: every layer writes all rows' keys and values with
// one store_rows each and attends with one attention_paged, through device copies of the rows' pool
// slots, positions and block tables made once per step.
class PagedKvStore final : public KvStore {
 public:
  PagedKvStore(PagedKvCache& cache, std::span<const BatchItem> items, Tensor slots, Tensor positions, Tensor tables)
      : cache_(cache), items_(items), slots_(slots), positions_(positions), tables_(tables) {}

  void attend(Backend& ops, int64_t layer, std::span<const KvRows>, std::span<const int32_t>,
              const AttentionSpec& spec, const Tensor& q, const Tensor& k, const Tensor& v,
              const Tensor& attn) override {
    ops.store_rows(k, cache_.k(layer), slots_);
    ops.store_rows(v, cache_.v(layer), slots_);
    ops.attention_paged(q, cache_.k(layer), cache_.v(layer), positions_, tables_, cache_.block_size(), spec, attn);
  }

  int64_t capacity(size_t seq) const override { return int64_t(items_[seq].blocks.size()) * cache_.block_size(); }

 private:
  PagedKvCache& cache_;
  std::span<const BatchItem> items_;
  Tensor slots_, positions_, tables_;
};

}  // namespace

Tensor BatchedForward::IndexBuffer::upload(Backend& ops, std::span<const int32_t> values,
                                           const std::vector<int64_t>& shape) {
  const auto n = int64_t(values.size());
  if (!device || device->tensor().numel() < n) {  // grow geometrically: batches change size every step
    const int64_t size = std::max(n, device ? 2 * device->tensor().numel() : 0);
    host = ops.alloc_host_input(DType::I32, {size});
    device = ops.alloc(DType::I32, {size});
  }
  const Tensor h = Tensor::view(host->tensor().data, DType::I32, {n}, host->tensor().device);
  const Tensor d = Tensor::view(device->tensor().data, DType::I32, {n}, device->tensor().device);
  // Safe to overwrite: the previous step ended by downloading its logits (or its sampled ids), so its
  // copies have run.
  std::memcpy(h.data, values.data(), values.size_bytes());
  ops.copy_from_host_input(h, d);
  return Tensor::view(d.data, DType::I32, shape, d.device);
}

Tensor BatchedForward::forward(std::span<const BatchItem> items, PagedKvCache& cache, LogitsAt at) {
  const int64_t bs = cache.block_size();
  size_t width = 1;
  for (const BatchItem& it : items) width = std::max(width, it.blocks.size());
  // Per row: the pool row its key and value go to, its position, and its sequence's block table
  // (padded with the first block: entries past a row's position are never read).
  std::vector<int32_t> slots, positions, tables;
  std::vector<SequenceChunk> chunks;
  for (size_t i = 0; i < items.size(); ++i) {
    const BatchItem& it = items[i];
    check(!it.blocks.empty(), "batched forward: a sequence without KV blocks");
    chunks.push_back({it.tokens, it.pos0, i, it.want_logits ? LogitRows::Last : LogitRows::None});
    for (size_t t = 0; t < it.tokens.size(); ++t) {
      const int64_t p = it.pos0 + int64_t(t);
      check(p / bs < int64_t(it.blocks.size()), "batched forward: position " + std::to_string(p) +
                                                    " is past the sequence's " +
                                                    std::to_string(it.blocks.size()) + " KV blocks");
      slots.push_back(int32_t(int64_t(it.blocks[size_t(p / bs)]) * bs + p % bs));
      positions.push_back(int32_t(p));
      tables.insert(tables.end(), it.blocks.begin(), it.blocks.end());
      tables.insert(tables.end(), width - it.blocks.size(), it.blocks[0]);
    }
  }
  Backend& ops = model_.backend();
  const auto T = int64_t(slots.size());
  PagedKvStore kv(cache, items, slots_.upload(ops, slots, {T}), positions_.upload(ops, positions, {T}),
                  tables_.upload(ops, tables, {T, int64_t(width)}));
  return model_.forward(chunks, kv, at);
}

}  // namespace llmr
