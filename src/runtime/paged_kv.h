#pragma once
// A paged KV cache: one pool of fixed-size blocks (block_size token rows of every layer's keys and
// values), handed to sequences through block tables, with prefix caching of full blocks by a hash
// of their whole token prefix. Not thread-safe: the scheduler thread owns it.
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "model/model_config.h"
#include "ops/backend.h"

namespace llmr {

struct KvBlockStats {
  int64_t total = 0, used = 0, free = 0, cached = 0;  // cached: free blocks still holding a prefix
  int64_t prefix_hits = 0;                            // blocks reused from the prefix cache
};

class PagedKvCache {
 public:
  PagedKvCache(const ModelConfig& config, int64_t n_blocks, int64_t block_size, DType type, Backend& backend);

  int64_t block_size() const { return block_size_; }
  int64_t n_blocks() const { return n_blocks_; }
  DType type() const { return type_; }
  // Rows [block * block_size, +block_size) of these are one block of one layer.
  Tensor k(int64_t layer) const { return k_[size_t(layer)]->tensor(); }
  Tensor v(int64_t layer) const { return v_[size_t(layer)]->tensor(); }

  // Blocks a sequence could still get now (free plus evictable cached ones).
  int64_t available() const { return int64_t(free_.size() + lru_.size()); }
  // The longest run of full blocks of `tokens` already cached (each gains a reference); never
  // covers the last token, which must run to give logits.
  std::vector<int32_t> match_prefix(std::span<const int32_t> tokens);
  // n fresh blocks (evicting least recently used cached prefixes); throws Error when too few.
  std::vector<int32_t> allocate(int64_t n);
  // Records that `block` now holds the full block `index` of `tokens` (KV written).
  void publish(int32_t block, std::span<const int32_t> tokens, int64_t index);
  // Drops one reference to each block; unreferenced ones become free (or cached, if published).
  void release(std::span<const int32_t> blocks);

  KvBlockStats stats() const;

 private:
  struct Block {
    int32_t refs = 0;
    uint64_t hash = 0;
    bool published = false;
    std::vector<int32_t> prefix;  // the tokens this block's keys depend on (all before its end)
    std::list<int32_t>::iterator lru_pos;
  };
  static uint64_t hash_prefix(std::span<const int32_t> tokens);
  void unpublish(int32_t b);

  int64_t n_blocks_, block_size_;
  DType type_;
  std::vector<std::unique_ptr<Buffer>> k_, v_;
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;
  std::list<int32_t> lru_;  // unreferenced published blocks, oldest first
  std::unordered_multimap<uint64_t, int32_t> by_hash_;
  int64_t prefix_hits_ = 0;
};

}  // namespace llmr
