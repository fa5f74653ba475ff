#pragma once
// Q4_0R: q4_0 weight rows repacked in groups of 16 so that the AVX-512 panel kernel reads 16 rows per
// VNNI dot with no decode but a nibble mask (the CPU backend's load-time layout; never in files). Same
// bytes as the q4_0 rows it came from, nibbles still packed.
// Group g (rows 16g .. 16g+15), block c: 16 f16 scales (row r at index r), then 256 bytes in which
// byte 64m + 4r + j is row r's qs[4m + j]: its low nibble is level 4m + j, its high nibble 16 + 4m + j.
// A Q4_0R tensor is [rows, n] with rows a multiple of 16; row slices must start on a group boundary.
#include <cstdint>

#include "tensor/quant_blocks.h"
#include "tensor/tensor.h"

namespace llmr {

constexpr int kQ4RRows = 16;
constexpr size_t kQ4RBlockBytes = kQ4RRows * sizeof(quant::BlockQ4_0);  // one block of 16 rows: 288

// Whether a q4_0 matrix can be repacked: contiguous, rows a whole number of groups.
bool can_repack_q4_0(const Tensor& w);
// dst (Q4_0R, same shape, contiguous) = src (Q4_0) repacked; throws Error naming the mismatch.
void repack_q4_0(const Tensor& src, const Tensor& dst);
// Row r of a Q4_0R matrix w as nb = cols / 32 plain q4_0 blocks.
void unpack_q4_0r_row(const Tensor& w, int64_t r, quant::BlockQ4_0* out);

}  // namespace llmr
