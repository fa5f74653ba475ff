// Batch invariance of the CPU matmul: a row of x gives bit-identical outputs whether it is multiplied
// alone or among other rows (in any batch size, at any position), so a server that batches
// sequences produces exactly the tokens each sequence gets alone.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/matmul_kernels.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

using testing::random_floats;

void matmul_at(cpu::Level level, const Tensor& x, const Tensor& w, const Tensor& y) {
  static cpu::ThreadPool pool(2);
  cpu::matmul_at_level(level, x, w, nullptr, y, &pool);
}

TEST(MatmulBatchInvariance, EachRowEqualsTheRowAlone) {
  std::vector<std::pair<cpu::Level, std::string>> levels = {{cpu::Level::Scalar, "scalar"}};
  if (cpu::cpu_features().avx2) levels.push_back({cpu::Level::Avx2, "avx2"});
  if (cpu::cpu_features().avx512_vnni) levels.push_back({cpu::Level::Avx512, "avx512"});
  const DType types[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0,
                         DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  // in = 416: 13 blocks of 32, so rows end in a partial group of blocks (types with 32-element blocks)
  for (const int64_t in : {int64_t(512), int64_t(416)})
  for (DType type : types) {
    if (in % info(type).block_elems != 0) continue;
    const int64_t out = 37;
    HostBuffer w(type, {out, in});
    for (int64_t r = 0; r < out; ++r) {
      const auto v = random_floats(size_t(in), -1.f, 1.f);
      quantize_row(type, v.data(), w.tensor().row(r), in);
    }
    for (const auto& [level, level_name] : levels)
      for (int64_t T : {2, 3, 4, 5, 8, 17}) {
        HostBuffer x(DType::F32, {T, in}), y(DType::F32, {T, out}), one(DType::F32, {1, out});
        const auto xv = random_floats(size_t(T * in), -2.f, 2.f);
        std::memcpy(x.tensor().data, xv.data(), xv.size() * 4);
        matmul_at(level, x.tensor(), w.tensor(), y.tensor());
        int64_t differ = 0;
        for (int64_t t = 0; t < T; ++t) {
          matmul_at(level, x.tensor().slice_rows(t, 1), w.tensor(), one.tensor());
          differ += std::memcmp(one.tensor().row(0), y.tensor().row(t), size_t(out) * 4) != 0;
        }
        EXPECT_EQ(differ, 0) << name(type) << " at " << level_name << ", in = " << in << ": " << differ
                             << " of " << T << " rows differ from the same row alone";
      }
  }
}

}  // namespace
}  // namespace llmr
