#pragma once
// Row conversion kernels among f32, f16 and bf16 over a vector type V.
#include <array>
#include <cstring>

#include "backend/cpu/simd_kernels.h"

namespace llmr::cpu {
namespace {

template <class V, DType S, DType D>
void convert_row(const void* src, void* dst, int64_t n) {
  if constexpr (S == D) {
    std::memmove(dst, src, size_t(n) * (S == DType::F32 ? 4 : 2));
  } else {
    int64_t i = 0;
    for (; i + V::W <= n; i += V::W) V::template store<D>(dst, i, V::template load<S>(src, i));
    for (; i < n; ++i) V::template store_one<D>(dst, i, V::template load_one<S>(src, i));
  }
}

template <class V, DType S>
auto convert_from() {
  using Fn = void (*)(const void*, void*, int64_t);
  return std::array<Fn, 3>{&convert_row<V, S, DType::F32>, &convert_row<V, S, DType::F16>, &convert_row<V, S, DType::BF16>};
}

template <class V>
CopyKernels make_copy_kernels() {
  CopyKernels k{};
  const auto from_f32 = convert_from<V, DType::F32>(), from_f16 = convert_from<V, DType::F16>(),
             from_bf16 = convert_from<V, DType::BF16>();
  for (int d = 0; d < 3; ++d) {
    k.row[0][d] = from_f32[d];
    k.row[1][d] = from_f16[d];
    k.row[2][d] = from_bf16[d];
  }
  return k;
}

}  // namespace
}  // namespace llmr::cpu
