#include "tensor/unit_records.h"

#include <cstring>
#include <string>

#include "core/error.h"
#include "tensor/quant_blocks.h"

namespace llmr {
namespace {

using quant::BlockQ4_0;
using quant::BlockQ4_K;
static_assert(sizeof(BlockQ4_0) * kUnitRecordUnits == kUnitRecordBytes && sizeof(BlockQ4_K) == kUnitRecordBytes);

// Nibble `half` (0 low, 1 high) of byte b.
uint8_t nibble(uint8_t b, int half) { return uint8_t((b >> (4 * half)) & 0xF); }

// One record from 8 q4_0 blocks, and back.
void q4_0_to_record(const BlockQ4_0* b, uint8_t* rec) {
  for (int j = 0; j < kUnitRecordUnits; ++j) {
    std::memcpy(rec + 2 * j, &b[j].d, 2);
    std::memcpy(rec + 16 + 16 * j, b[j].qs, 16);
  }
}
void record_to_q4_0(const uint8_t* rec, BlockQ4_0* b) {
  for (int j = 0; j < kUnitRecordUnits; ++j) {
    std::memcpy(&b[j].d, rec + 2 * j, 2);
    std::memcpy(b[j].qs, rec + 16 + 16 * j, 16);
  }
}

// q4_k keeps sub-blocks 2c and 2c+1 in the low and high nibbles of qs[32c .. 32c+32); a record gives
// each sub-block (unit) its own 16 bytes in q4_0's order.
void q4_k_to_record(const BlockQ4_K& b, uint8_t* rec) {
  std::memcpy(rec, &b, 16);  // d, dmin, scales
  for (int j = 0; j < kUnitRecordUnits; ++j) {
    const uint8_t* qs = b.qs + 32 * (j / 2);
    for (int i = 0; i < 16; ++i) rec[16 + 16 * j + i] = uint8_t(nibble(qs[i], j & 1) | nibble(qs[16 + i], j & 1) << 4);
  }
}
void record_to_q4_k(const uint8_t* rec, BlockQ4_K& b) {
  std::memcpy(&b, rec, 16);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      // element l of units 2c and 2c+1: byte l % 16 of each, low nibble for l < 16
      const int half = l / 16, i = l % 16;
      b.qs[32 * c + l] = uint8_t(nibble(rec[16 + 16 * (2 * c) + i], half) | nibble(rec[16 + 16 * (2 * c + 1) + i], half) << 4);
    }
}

}  // namespace

DType unit_records_type(DType plain) {
  if (plain == DType::Q4_0) return DType::Q4_0C;
  if (plain == DType::Q4_K) return DType::Q4_KC;
  throw Error(std::string("unit records: no regrouped layout of ") + name(plain));
}

DType unit_records_plain_type(DType regrouped) {
  if (regrouped == DType::Q4_0C) return DType::Q4_0;
  if (regrouped == DType::Q4_KC) return DType::Q4_K;
  throw Error(std::string("unit records: ") + name(regrouped) + " is not a regrouped layout");
}

bool can_regroup_unit_records(const Tensor& w) {
  return (w.type == DType::Q4_0 || w.type == DType::Q4_K) && w.ndim == 2 && w.shape[1] % 256 == 0 && w.is_contiguous();
}

void regroup_unit_records(const Tensor& src, const Tensor& dst) {
  check(can_regroup_unit_records(src), "regroup_unit_records: source " + src.describe() +
                                           " is not a contiguous q4_0 or q4_k matrix of rows a multiple of 256");
  check(dst.type == unit_records_type(src.type) && dst.ndim == 2 && dst.shape[0] == src.shape[0] &&
            dst.shape[1] == src.shape[1] && dst.is_contiguous(),
        "regroup_unit_records: destination " + dst.describe() + " is not a contiguous " +
            name(unit_records_type(src.type)) + " matrix of " + src.describe());
  const int64_t records = src.shape[0] * (src.shape[1] / 256);
  const auto* in = static_cast<const uint8_t*>(src.data);
  auto* out = static_cast<uint8_t*>(dst.data);
  for (int64_t k = 0; k < records; ++k, in += kUnitRecordBytes, out += kUnitRecordBytes) {
    if (src.type == DType::Q4_0) q4_0_to_record(reinterpret_cast<const BlockQ4_0*>(in), out);
    else q4_k_to_record(*reinterpret_cast<const BlockQ4_K*>(in), out);
  }
}

void unit_records_row_to_plain(const Tensor& w, int64_t r, void* out) {
  const DType plain = unit_records_plain_type(w.type);
  check(r >= 0 && r < w.shape[0], "unit_records_row_to_plain: row " + std::to_string(r) + " of " + w.describe());
  const auto* rec = static_cast<const uint8_t*>(w.row(r));
  auto* dst = static_cast<uint8_t*>(out);
  for (int64_t k = 0; k < w.shape[1] / 256; ++k, rec += kUnitRecordBytes, dst += kUnitRecordBytes) {
    if (plain == DType::Q4_0) record_to_q4_0(rec, reinterpret_cast<BlockQ4_0*>(dst));
    else record_to_q4_k(rec, *reinterpret_cast<BlockQ4_K*>(dst));
  }
}

}  // namespace llmr
