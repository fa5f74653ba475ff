#include <cmath>

#include "backend/cpu/matmul_kernels.h"

namespace llmr::cpu {

void quantize_activations(const float* x, ActBlock* out, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* v = x + 32 * b;
    float amax = 0.f;
    // A plain compare (not fmax, whose NaN rule blocks vectorizing); a NaN input quantizes to 0 below.
    for (int i = 0; i < 32; ++i) {
      const float a = std::fabs(v[i]);
      amax = a > amax ? a : amax;
    }
    const float d = amax / 127.f;
    const float id = amax > 0.f ? 127.f / amax : 0.f;
    ActBlock& o = out[b];
    int sum[2] = {0, 0};
    for (int i = 0; i < 32; ++i) {
      // |v * id| <= 127: adding 1.5 * 2^23 rounds to an integer (ties to even) without a libm call.
      const float r = (v[i] * id + 12582912.f) - 12582912.f;
      const int q = r == r ? int(r) : 0;
      o.qs[i] = int8_t(q);
      sum[i / 16] += q;
    }
    o.d = d;
    o.s0 = d * float(sum[0]);
    o.s1 = d * float(sum[1]);
    o.s = d * float(sum[0] + sum[1]);
  }
}

}  // namespace llmr::cpu
