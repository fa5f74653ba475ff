#include "runtime/paged_kv.h"

#include <algorithm>

namespace llmr {

PagedKvCache::PagedKvCache(const ModelConfig& c, int64_t n_blocks, int64_t block_size, DType type, Backend& backend)
    : n_blocks_(n_blocks), block_size_(block_size), type_(type) {
  check(block_size > 0 && block_size <= 4096, "KV block size " + std::to_string(block_size) + " is out of range");
  check(n_blocks > 0 && n_blocks * block_size <= (int64_t(1) << 26),
        "KV block count " + std::to_string(n_blocks) + " is out of range");
  check(type == DType::F32 || type == DType::F16 || type == DType::Q8_0,
        std::string("KV cache type must be f32, f16 or q8_0, not ") + name(type));
  check(type != DType::Q8_0 || c.head_dim % 32 == 0,
        "KV cache type q8_0 needs head_dim in whole blocks of 32; this model's head_dim is " +
            std::to_string(c.head_dim));
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  for (int64_t l = 0; l < c.n_layer; ++l) {
    k_.push_back(backend.alloc(type, {n_blocks * block_size, kv_dim}));
    v_.push_back(backend.alloc(type, {n_blocks * block_size, kv_dim}));
  }
  blocks_.resize(size_t(n_blocks));
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(int32_t(b));
}

uint64_t PagedKvCache::hash_prefix(std::span<const int32_t> tokens) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the token ids
  for (int32_t t : tokens)
    for (int i = 0; i < 4; ++i) h = (h ^ ((uint32_t(t) >> (8 * i)) & 0xff)) * 1099511628211ull;
  return h;
}

std::vector<int32_t> PagedKvCache::match_prefix(std::span<const int32_t> tokens) {
  std::vector<int32_t> out;
  for (int64_t i = 0; (i + 1) * block_size_ < int64_t(tokens.size()); ++i) {
    auto prefix = tokens.first(size_t((i + 1) * block_size_));
    const uint64_t h = hash_prefix(prefix);
    int32_t found = -1;
    auto [a, e] = by_hash_.equal_range(h);
    for (auto it = a; it != e; ++it) {
      const Block& b = blocks_[size_t(it->second)];
      if (std::equal(b.prefix.begin(), b.prefix.end(), prefix.begin(), prefix.end())) {
        found = it->second;
        break;
      }
    }
    if (found < 0) break;
    Block& b = blocks_[size_t(found)];
    if (b.refs++ == 0) lru_.erase(b.lru_pos);
    out.push_back(found);
    ++prefix_hits_;
  }
  return out;
}

void PagedKvCache::unpublish(int32_t id) {
  Block& b = blocks_[size_t(id)];
  if (!b.published) return;
  auto [a, e] = by_hash_.equal_range(b.hash);
  for (auto it = a; it != e; ++it)
    if (it->second == id) {
      by_hash_.erase(it);
      break;
    }
  b.published = false;
  b.prefix.clear();
  b.prefix.shrink_to_fit();
}

std::vector<int32_t> PagedKvCache::allocate(int64_t n) {
  check(n >= 0 && n <= available(), "KV cache: " + std::to_string(n) + " blocks wanted, " +
                                        std::to_string(available()) + " available");
  std::vector<int32_t> out;
  while (int64_t(out.size()) < n) {
    int32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = lru_.front();
      lru_.pop_front();
      unpublish(id);
    }
    blocks_[size_t(id)].refs = 1;
    out.push_back(id);
  }
  return out;
}

void PagedKvCache::publish(int32_t id, std::span<const int32_t> tokens, int64_t index) {
  Block& b = blocks_[size_t(id)];
  if (b.published) return;
  auto prefix = tokens.first(size_t((index + 1) * block_size_));
  const uint64_t h = hash_prefix(prefix);
  auto [a, e] = by_hash_.equal_range(h);
  for (auto it = a; it != e; ++it)  // an identical block is already cached: keep that one only
    if (std::equal(blocks_[size_t(it->second)].prefix.begin(), blocks_[size_t(it->second)].prefix.end(),
                   prefix.begin(), prefix.end()))
      return;
  b.hash = h;
  b.prefix.assign(prefix.begin(), prefix.end());
  b.published = true;
  by_hash_.emplace(h, id);
}

void PagedKvCache::release(std::span<const int32_t> ids) {
  for (int32_t id : ids) {
    Block& b = blocks_[size_t(id)];
    if (b.refs <= 0) continue;
    if (--b.refs > 0) continue;
    if (b.published) {
      lru_.push_back(id);
      b.lru_pos = std::prev(lru_.end());
    } else {
      free_.push_back(id);
    }
  }
}

KvBlockStats PagedKvCache::stats() const {
  KvBlockStats s;
  s.total = n_blocks_;
  s.cached = int64_t(lru_.size());
  s.free = int64_t(free_.size()) + s.cached;
  s.used = n_blocks_ - s.free;
  s.prefix_hits = prefix_hits_;
  return s;
}

}  // namespace llmr
