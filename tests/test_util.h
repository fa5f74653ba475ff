#pragma once
// Helpers shared by the test suites: fresh random data, tensor filling and comparison.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tensor/half.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/tensor.h"

namespace llmr::testing {

// A generator seeded from the test's name plus a per-process random offset, so every run draws
// fresh inputs while a failure prints the seed that reproduces it (LLMR_TEST_SEED fixes it).
std::mt19937_64& rng();
uint64_t test_seed();

inline std::vector<float> random_floats(size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

// Writes value(i) to every element of a [rows, cols] f32/f16/bf16/q8_0 tensor, honouring row strides
// (q8_0 rows quantized whole, as a KV cache stores them).
template <typename F>
void fill(const Tensor& t, F value) {
  std::vector<float> row(size_t(t.cols()));
  for (int64_t r = 0; r < t.rows(); ++r)
    for (int64_t c = 0; c < t.cols(); ++c) {
      float v = value(r * t.cols() + c);
      switch (t.type) {
        case DType::F32: t.row<float>(r)[c] = v; break;
        case DType::F16: t.row<uint16_t>(r)[c] = f32_to_f16(v); break;
        case DType::BF16: t.row<uint16_t>(r)[c] = f32_to_bf16(v); break;
        case DType::Q8_0:
          row[size_t(c)] = v;
          if (c + 1 == t.cols()) quantize_row(t.type, row.data(), t.row<void>(r), t.cols());
          break;
        default: throw Error("fill: unsupported type");
      }
    }
}

inline float element(const Tensor& t, int64_t r, int64_t c) {
  switch (t.type) {
    case DType::F32: return t.row<float>(r)[c];
    case DType::F16: return f16_to_f32(t.row<uint16_t>(r)[c]);
    case DType::BF16: return bf16_to_f32(t.row<uint16_t>(r)[c]);
    case DType::Q8_0: {
      const auto& b = t.row<const quant::BlockQ8_0>(r)[c / quant::kQK];
      return float(b.qs[c % quant::kQK]) * f16_to_f32(b.d);
    }
    default: throw Error("element: unsupported type");
  }
}

struct Diff {
  double max_abs = 0, max_rel = 0;
  int64_t worst_row = -1, worst_col = -1;
  bool has_nan = false;
};

// Elementwise comparison of two same-shaped tensors; rel is |a-b| / max(|b|, floor).
inline Diff compare(const Tensor& a, const Tensor& b, double floor = 1e-6) {
  Diff d;
  for (int64_t r = 0; r < a.rows(); ++r)
    for (int64_t c = 0; c < a.cols(); ++c) {
      double x = element(a, r, c), y = element(b, r, c);
      if (std::isnan(x) != std::isnan(y)) d.has_nan = true;
      double e = std::fabs(x - y);
      if (e > d.max_abs) {
        d.max_abs = e;
        d.worst_row = r;
        d.worst_col = c;
      }
      d.max_rel = std::max(d.max_rel, e / std::max(std::fabs(y), floor));
    }
  return d;
}

// The dot product of x and w over n values in double (value), sum |x_k w_k| (abs_sum), and how far
// int8 activations can move it (act_err): x rounded to d q with d = amax / 127 per 32 values moves each
// x_k by at most amax / 254, so the result by at most sum over blocks of amax / 254 * sum |w_k|.
struct DotOracle {
  double value = 0, abs_sum = 0, act_err = 0;
};
inline DotOracle dot_oracle(const float* x, const float* w, int64_t n) {
  DotOracle d;
  for (int64_t k0 = 0; k0 < n; k0 += 32) {
    double amax = 0, wabs = 0;
    for (int64_t k = k0; k < std::min(n, k0 + 32); ++k) {
      d.value += double(x[k]) * w[k];
      d.abs_sum += std::fabs(double(x[k]) * w[k]);
      amax = std::max(amax, std::fabs(double(x[k])));
      wabs += std::fabs(double(w[k]));
    }
    d.act_err += amax / 254.0 * wabs;
  }
  return d;
}

}  // namespace llmr::testing
