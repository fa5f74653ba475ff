#pragma once
// Element types of tensors, numbered as GGUF numbers them (ggml_type), with their block geometry.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmr {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  I32 = 26,
  BF16 = 30,
  // Internal layouts that only a backend creates at load; no GGUF file may name them (dtype_info
  // does not know them). Q8_0R: q8_0 rows repacked in groups of 16 (tensor/q8_0_repack.h); Q4_0R:
  // q4_0 rows likewise (tensor/q4_0_repack.h); Q4_KR: q4_k rows likewise (tensor/q4_k_repack.h).
  // Q4_0C / Q4_KC: q4_0 / q4_k rows regrouped into records of 8 units for the CUDA kernels
  // (tensor/unit_records.h).
  Q4_0R = 0x10002,
  Q8_0R = 0x10008,
  Q4_KR = 0x1000C,
  Q4_0C = 0x20002,
  Q4_KC = 0x2000C,
};

struct DTypeInfo {
  DType type;
  const char* name;        // lower-case, as on the command line: "q4_k"
  int64_t block_elems;     // elements per block (1 for plain types)
  size_t block_bytes;      // bytes per block
  bool quantized;
};

// Info for a type; nullopt for a GGUF type number llmr does not know (internal layouts included).
std::optional<DTypeInfo> dtype_info(uint32_t gguf_type);
const DTypeInfo& info(DType t);
inline const char* name(DType t) { return info(t).name; }
// True for the internal layouts above (not in files, not on the command line).
inline bool is_internal(DType t) { return uint32_t(t) >= 0x10000; }
// Parses "f32", "q4_0", "Q4_K" (case-insensitive); throws Error naming the text otherwise.
DType parse_dtype(std::string_view text);

// Bytes for a row of n elements; throws Error if n is not a multiple of the block size.
size_t row_bytes(DType t, int64_t n);

}  // namespace llmr
