#pragma once
// Q8_0R: q8_0 weight rows repacked in groups of 16 so that one 512-bit VNNI dot advances 16 rows at
// once (the CPU backend's load-time layout; never in files). Same bytes as the q8_0 rows it came from.
// Group g (rows 16g .. 16g+15), block c: 16 f16 scales (row r at index r), then 512 bytes in which
// byte 64k + 4r + j is row r's level 4k + j of that block, stored unsigned (q + 128, as q xor 0x80).
// A Q8_0R tensor is [rows, n] with rows a multiple of 16; row slices must start on a group boundary.
#include <cstdint>

#include "tensor/quant_blocks.h"
#include "tensor/tensor.h"

namespace llmr {

constexpr int kQ8RRows = 16;
constexpr size_t kQ8RBlockBytes = kQ8RRows * sizeof(quant::BlockQ8_0);  // one block of 16 rows: 544

// Whether a q8_0 matrix can be repacked: contiguous, rows a whole number of groups.
bool can_repack_q8_0(const Tensor& w);
// dst (Q8_0R, same shape, contiguous) = src (Q8_0) repacked; throws Error naming the mismatch.
void repack_q8_0(const Tensor& src, const Tensor& dst);
// Row r of a Q8_0R matrix w as nb = cols / 32 plain q8_0 blocks.
void unpack_q8_0r_row(const Tensor& w, int64_t r, quant::BlockQ8_0* out);

}  // namespace llmr
