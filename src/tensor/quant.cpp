#include "tensor/quant.h"

#include <cstring>
#include <string>

#include "core/error.h"
#include "tensor/half.h"
#include "tensor/quant_impl.h"

namespace llmr {
namespace {

// Throws unless n is a non-negative whole number of `type` blocks (row_bytes checks that).
void check_row(DType type, int64_t n, const char* what) {
  check(n >= 0, std::string(what) + ": negative element count " + std::to_string(n));
  row_bytes(type, n);
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  check_row(type, n, "dequantize_row");
  const auto* h = static_cast<const uint16_t*>(src);
  switch (type) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]); return;
    case DType::BF16: for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]); return;
    case DType::Q8_0: quant::dequantize_q8_0(src, dst, n); return;
    case DType::Q4_0: quant::dequantize_q4_0(src, dst, n); return;
    case DType::Q4_1: quant::dequantize_q4_1(src, dst, n); return;
    case DType::Q4_K: quant::dequantize_q4_k(src, dst, n); return;
    case DType::Q5_K: quant::dequantize_q5_k(src, dst, n); return;
    case DType::Q6_K: quant::dequantize_q6_k(src, dst, n); return;
    default: break;
  }
  throw Error(std::string("dequantize_row: type ") + name(type) + " is not a weight type");
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  check_row(type, n, "quantize_row");
  auto* h = static_cast<uint16_t*>(dst);
  switch (type) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]); return;
    case DType::BF16: for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]); return;
    case DType::Q8_0: quant::quantize_q8_0(src, dst, n); return;
    case DType::Q4_0: quant::quantize_q4_0(src, dst, n); return;
    case DType::Q4_1: quant::quantize_q4_1(src, dst, n); return;
    case DType::Q4_K: quant::quantize_q4_k(src, dst, n); return;
    case DType::Q5_K: quant::quantize_q5_k(src, dst, n); return;
    case DType::Q6_K: quant::quantize_q6_k(src, dst, n); return;
    default: break;
  }
  throw Error(std::string("quantize_row: type ") + name(type) + " is not a weight type");
}

}  // namespace llmr
