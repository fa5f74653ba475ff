#pragma once
// Q4_0C / Q4_KC: q4_0 and q4_k weight rows regrouped so that a GPU lane reads one 32-element unit's
// quants with a single 16-byte load and a warp's loads are contiguous (the CUDA backend's load-time
// layout; never in files). Same bytes as the rows they came from.
// A row is a run of 144-byte records of 8 units (256 elements): a 16-byte header, then 16 bytes a unit
// in which byte i holds element i in its low nibble and element 16 + i in its high nibble (q4_0's
// order). Q4_0C's header is the 8 units' f16 scales; Q4_KC's is the q4_k super-block's d, dmin and 12
// scale bytes unchanged (a record is the super-block with its quants reordered).
#include <cstdint>

#include "tensor/tensor.h"

namespace llmr {

constexpr int kUnitRecordBytes = 144;
constexpr int kUnitRecordUnits = 8;

// Q4_0 -> Q4_0C, Q4_K -> Q4_KC; throws Error for any other type.
DType unit_records_type(DType plain);
// Q4_0C -> Q4_0, Q4_KC -> Q4_K; throws Error for any other type.
DType unit_records_plain_type(DType regrouped);
// Whether w can be regrouped: a contiguous 2-D q4_0 matrix of rows a multiple of 256 elements, or q4_k.
bool can_regroup_unit_records(const Tensor& w);
// dst (Q4_0C / Q4_KC, same shape, contiguous) = src regrouped; throws Error naming the mismatch.
void regroup_unit_records(const Tensor& src, const Tensor& dst);
// Row r of a Q4_0C / Q4_KC matrix as the plain type's bytes (row_bytes of them).
void unit_records_row_to_plain(const Tensor& w, int64_t r, void* out);

}  // namespace llmr
