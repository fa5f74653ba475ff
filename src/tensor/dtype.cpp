#include "tensor/dtype.h"

#include <array>
#include <cctype>

#include "core/error.h"

namespace llmr {
namespace {

constexpr std::array<DTypeInfo, 10> kTypes = {{
    {DType::F32, "f32", 1, 4, false},
    {DType::F16, "f16", 1, 2, false},
    {DType::BF16, "bf16", 1, 2, false},
    {DType::I32, "i32", 1, 4, false},
    {DType::Q4_0, "q4_0", 32, 18, true},
    {DType::Q4_1, "q4_1", 32, 20, true},
    {DType::Q8_0, "q8_0", 32, 34, true},
    {DType::Q4_K, "q4_k", 256, 144, true},
    {DType::Q5_K, "q5_k", 256, 176, true},
    {DType::Q6_K, "q6_k", 256, 210, true},
}};

// Backend-internal layouts: info() knows them, file readers and parse_dtype do not.
constexpr std::array<DTypeInfo, 5> kInternal = {{
    {DType::Q8_0R, "q8_0r", 32, 34, true},
    {DType::Q4_0R, "q4_0r", 32, 18, true},
    {DType::Q4_KR, "q4_kr", 256, 144, true},
    {DType::Q4_0C, "q4_0c", 256, 144, true},  // a block is one record of 8 units
    {DType::Q4_KC, "q4_kc", 256, 144, true},
}};

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t gguf_type) {
  for (const auto& t : kTypes)
    if (uint32_t(t.type) == gguf_type) return t;
  return std::nullopt;
}

const DTypeInfo& info(DType t) {
  for (const auto& i : kTypes)
    if (i.type == t) return i;
  for (const auto& i : kInternal)
    if (i.type == t) return i;
  throw Error("unknown dtype number " + std::to_string(uint32_t(t)));
}

DType parse_dtype(std::string_view text) {
  std::string lower;
  for (char c : text) lower.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  for (const auto& t : kTypes)
    if (lower == t.name) return t.type;
  throw Error("unknown tensor type '" + std::string(text) +
              "' (expected f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q5_k or q6_k)");
}

size_t row_bytes(DType t, int64_t n) {
  const auto& i = info(t);
  check(n >= 0 && n % i.block_elems == 0,
        std::string("row of ") + std::to_string(n) + " elements is not a whole number of " + i.name +
            " blocks of " + std::to_string(i.block_elems));
  return size_t(n / i.block_elems) * i.block_bytes;
}

}  // namespace llmr
