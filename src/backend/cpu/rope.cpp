// CpuBackend::rope: per row, cos/sin of positions[t] * inv_freq, then the level's rotation kernel.
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/rope_kernel.h"
#include "backend/cpu/simd_kernels.h"
#include "backend/cpu/simd_vec_scalar.h"
#include "ops/op_checks.h"

namespace llmr::cpu {

const RopeKernels& rope_kernels(SimdLevel level) {
  static const RopeKernels scalar = make_rope_kernels<VecScalar>();
  return pick_kernels(level, scalar, &rope_kernels_avx2, &rope_kernels_avx512);
}

void rope(ThreadPool& pool, SimdLevel level, const Tensor& x, int n_heads, std::span<const int32_t> positions,
          const RopeSpec& spec) {
  op_checks::rope(x, n_heads, positions, spec);
  op_checks::check_device("rope", "x", x, Device::Host);
  const auto kernel = rope_kernels(level).row;
  const int rot = spec.rot_dims, half = rot / 2;
  const bool neox = spec.layout == RopeLayout::NeoX;
  pool.parallel_for(x.rows(), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> cos_table(static_cast<size_t>(rot)), sin_table(static_cast<size_t>(rot));
    for (int64_t t = begin; t < end; ++t) {
      for (int i = 0; i < half; ++i) {
        // Same formula as the reference: the angle in float, cos/sin in double.
        const float angle = float(positions[t]) * spec.inv_freq[i];
        const float c = float(std::cos(double(angle))), s = float(std::sin(double(angle)));
        if (neox) {
          cos_table[i] = c;
          sin_table[i] = s;
        } else {
          cos_table[2 * i] = cos_table[2 * i + 1] = c;
          sin_table[2 * i] = -s;
          sin_table[2 * i + 1] = s;
        }
      }
      kernel(x.row<float>(t), n_heads, spec.head_dim, rot, spec.layout, cos_table.data(), sin_table.data());
    }
  });
}

}  // namespace llmr::cpu

namespace llmr {

void CpuBackend::rope(const Tensor& x, int n_heads, std::span<const int32_t> positions, const RopeSpec& spec) {
  cpu::rope(pool_, cpu::active_level(), x, n_heads, positions, spec);
}

}  // namespace llmr
