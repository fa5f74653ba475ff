#pragma once
// The scalar "vector" of width 1 the kernel templates run on at SimdLevel::Scalar.
#include <cmath>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/half.h"

namespace llmr::cpu {
namespace {

struct VecScalar {
  using R = float;
  static constexpr int W = 1;

  template <DType T>
  static float load_one(const void* p, int64_t i) {
    if constexpr (T == DType::F32) return static_cast<const float*>(p)[i];
    if constexpr (T == DType::F16) return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    if constexpr (T == DType::BF16) return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
  }
  template <DType T>
  static void store_one(void* p, int64_t i, float v) {
    if constexpr (T == DType::F32) static_cast<float*>(p)[i] = v;
    if constexpr (T == DType::F16) static_cast<uint16_t*>(p)[i] = f32_to_f16(v);
    if constexpr (T == DType::BF16) static_cast<uint16_t*>(p)[i] = f32_to_bf16(v);
  }
  template <DType T> static R load(const void* p, int64_t i) { return load_one<T>(p, i); }
  template <DType T> static void store(void* p, int64_t i, R v) { store_one<T>(p, i, v); }

  static R zero() { return 0.f; }
  static R set1(float v) { return v; }
  static R add(R a, R b) { return a + b; }
  static R sub(R a, R b) { return a - b; }
  static R mul(R a, R b) { return a * b; }
  static R div(R a, R b) { return a / b; }
  static R fmadd(R a, R b, R c) { return a * b + c; }
  static R max(R a, R b) { return a > b ? a : b; }
  static float hsum(R a) { return a; }
  static float hmax(R a) { return a; }
  static R exp(R a) { return std::exp(a); }
  static float exp_one(float a) { return std::exp(a); }
};

}  // namespace
}  // namespace llmr::cpu
