#pragma once
// The traversal the CPU backend's 16-row repacked layouts (Q8_0R, Q4_0R, Q4_KR) share: group g (rows
// 16g .. 16g+15) block c is one record of 16 source blocks at (g * blocks_per_row + c) * 16 * sizeof(Block)
// bytes; each layout says only how a row's block goes into, and comes back out of, its record.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "tensor/tensor.h"

namespace llmr {

constexpr int kRepackRows = 16;

// Whether w (of type `plain`, blocks of `block_elems` values) can be repacked: contiguous, rows a
// whole number of groups.
inline bool can_repack_groups(const Tensor& w, DType plain, int64_t block_elems) {
  return w.type == plain && w.ndim == 2 && w.shape[0] % kRepackRows == 0 && w.shape[1] % block_elems == 0 &&
         w.is_contiguous();
}

// dst (type `packed`, same shape, contiguous) = src repacked: pack(record, block, r) for row r's block
// of each record. Throws Error naming the mismatch.
template <typename Block, typename Pack>
void repack_groups(const Tensor& src, const Tensor& dst, DType plain, DType packed, int64_t block_elems, Pack&& pack) {
  const std::string op = std::string("repack_") + name(plain);
  check(can_repack_groups(src, plain, block_elems),
        op + ": source " + src.describe() + " is not a contiguous " + name(plain) +
            " matrix with rows a multiple of 16");
  check(dst.type == packed && dst.ndim == 2 && dst.shape[0] == src.shape[0] && dst.shape[1] == src.shape[1] &&
            dst.is_contiguous(),
        op + ": destination " + dst.describe() + " is not a contiguous " + name(packed) + " matrix of " +
            src.describe());
  constexpr size_t kRecord = kRepackRows * sizeof(Block);
  const int64_t nb = src.shape[1] / block_elems, groups = src.shape[0] / kRepackRows;
  for (int64_t g = 0; g < groups; ++g) {
    uint8_t* record = static_cast<uint8_t*>(dst.data) + size_t(g * nb) * kRecord;
    for (int64_t c = 0; c < nb; ++c, record += kRecord)
      for (int r = 0; r < kRepackRows; ++r) pack(record, static_cast<const Block*>(src.row(g * kRepackRows + r))[c], r);
  }
}

// Row r of w (type `packed`) as its cols / block_elems plain blocks: unpack(record, r % 16, block) for each.
template <typename Block, typename Unpack>
void unpack_group_row(const Tensor& w, DType packed, int64_t block_elems, int64_t r, Block* out, Unpack&& unpack) {
  check(w.type == packed && w.ndim == 2 && r >= 0 && r < w.shape[0] && w.shape[0] % kRepackRows == 0,
        std::string("unpack_") + name(packed) + "_row: row " + std::to_string(r) + " of " + w.describe());
  const int64_t nb = w.shape[1] / block_elems;
  const int ri = int(r % kRepackRows);
  const uint8_t* record = static_cast<const uint8_t*>(w.row(r - ri));  // the group's first row
  for (int64_t c = 0; c < nb; ++c, record += kRepackRows * sizeof(Block)) unpack(record, ri, out[c]);
}

}  // namespace llmr
