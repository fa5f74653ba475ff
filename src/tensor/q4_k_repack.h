#pragma once
// Q4_KR: q4_k weight rows repacked in groups of 16 so that the AVX-512 panel kernel reads 16 rows per
// VNNI dot and decodes 16 rows' sub-block scales per vector op (the CPU backend's load-time layout;
// never in files). Same bytes as the q4_k rows it came from, nibbles and 6-bit scales still packed.
// Group g (rows 16g .. 16g+15), super-block c (2304 bytes): 16 f16 d (row r at index r), 16 f16 dmin,
// then 3 x 64 bytes in which bytes 64i + 4r .. +3 are row r's scales[4i .. 4i+3], then 2048 bytes in
// which byte 256 + 512p + 64k + 4r + j is row r's qs[32p + 4k + j]: its low nibble is sub-block 2p's
// level 4k + j, its high nibble sub-block (2p+1)'s.
// A Q4_KR tensor is [rows, n] with rows a multiple of 16; row slices must start on a group boundary.
#include <cstdint>

#include "tensor/quant_blocks.h"
#include "tensor/tensor.h"

namespace llmr {

constexpr int kQ4KRRows = 16;
constexpr size_t kQ4KRBlockBytes = kQ4KRRows * sizeof(quant::BlockQ4_K);  // one super-block of 16 rows: 2304

// Whether a q4_k matrix can be repacked: contiguous, rows a whole number of groups.
bool can_repack_q4_k(const Tensor& w);
// dst (Q4_KR, same shape, contiguous) = src (Q4_K) repacked; throws Error naming the mismatch.
void repack_q4_k(const Tensor& src, const Tensor& dst);
// Row r of a Q4_KR matrix w as nb = cols / 256 plain q4_k blocks.
void unpack_q4_kr_row(const Tensor& w, int64_t r, quant::BlockQ4_K* out);

}  // namespace llmr
