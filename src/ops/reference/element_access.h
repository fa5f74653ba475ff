#pragma once
// Reads and writes one element of an f32/f16/bf16 row (reads of q8_0 too, whose writes go a row at a
// time through store_row): the plain conversions the reference uses.
#include <cstdint>
#include <vector>

#include "tensor/half.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/tensor.h"

namespace llmr::reference_detail {

inline float load_element(const Tensor& t, int64_t r, int64_t c) {
  switch (t.type) {
    case DType::F32: return t.row<const float>(r)[c];
    case DType::F16: return f16_to_f32(t.row<const uint16_t>(r)[c]);
    case DType::BF16: return bf16_to_f32(t.row<const uint16_t>(r)[c]);
    case DType::Q8_0: {  // value = qs * d of the block holding column c
      const auto& b = t.row<const quant::BlockQ8_0>(r)[c / quant::kQK];
      return float(b.qs[c % quant::kQK]) * f16_to_f32(b.d);
    }
    default: throw Error("reference: unsupported element type " + t.describe());
  }
}

inline void store_element(const Tensor& t, int64_t r, int64_t c, float v) {
  switch (t.type) {
    case DType::F32: t.row<float>(r)[c] = v; break;
    case DType::F16: t.row<uint16_t>(r)[c] = f32_to_f16(v); break;
    case DType::BF16: t.row<uint16_t>(r)[c] = f32_to_bf16(v); break;
    default: throw Error("reference: unsupported element type " + t.describe());
  }
}

// Row r of t = values[0 .. t.cols()), converted to t's type (q8_0 quantized as GGUF files are).
inline void store_row(const Tensor& t, int64_t r, const float* values) {
  if (t.type == DType::Q8_0) return quantize_row(t.type, values, t.row<void>(r), t.cols());
  for (int64_t c = 0; c < t.cols(); ++c) store_element(t, r, c, values[c]);
}

// The value v takes once stored in type t (what a later read of it returns).
inline float round_to(DType t, float v) {
  switch (t) {
    case DType::F16: return f16_to_f32(f32_to_f16(v));
    case DType::BF16: return bf16_to_f32(f32_to_bf16(v));
    default: return v;
  }
}

inline void check_host(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) check(t->device == Device::Host, std::string(op) + ": reference backend needs host tensors, got " + t->describe() + " on the GPU");
}

}  // namespace llmr::reference_detail
