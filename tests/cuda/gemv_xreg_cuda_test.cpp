// The register-held-activation GEMV (gemv_xreg.h) at every rows-per-warp x depth x k-split shape it has, not
// only the one its dispatcher picks for a size: q4_0, q8_0, q4_k and the regrouped q4_0c, q4_kc
// (tensor/unit_records.h; rings of one chunk, and q4_0c's of two at T = 1) at T = 1 and 2, rows that leave a
// partial row group, units that leave a partial chunk, with bias, and adding into y (accumulate).
// Oracle: the product in double of the stored weights and x; tolerance as tests/cuda/matmul_cuda_test.cpp's
// int8 path: act_err = sum over 32-blocks of amax/254 * sum|w| (x rounded to d q), plus 4e-5 sum|x w|
// + 1e-5 for the f32 sums, plus 1e-6 |y0| for the accumulate's one extra rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/gemv_xreg.h"
#include "tensor/quant.h"
#include "tensor/unit_records.h"
#include "test_util.h"

namespace llmr {
namespace {

using testing::random_floats;

struct DeviceArray {
  void* p = nullptr;
  explicit DeviceArray(size_t bytes) { cuda_detail::cuda_check(cudaMalloc(&p, bytes), "test", "cudaMalloc"); }
  ~DeviceArray() { cudaFree(p); }
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

void check_xreg(DType type, int T, int64_t in, int64_t out, cuda_ops::XregShape shape, bool accumulate) {
  SCOPED_TRACE(std::string(name(type)) + " T=" + std::to_string(T) + " in=" + std::to_string(in) + " out=" +
               std::to_string(out) + " R=" + std::to_string(shape.rows_per_warp) + " KS=" +
               std::to_string(shape.k_split) + " D=" + std::to_string(shape.depth) + (accumulate ? " accumulate" : ""));
  const bool regrouped = is_internal(type);
  const DType plain = regrouped ? unit_records_plain_type(type) : type;
  const size_t rb = row_bytes(type, in);
  HostBuffer wplain(plain, {out, in}), wgrouped(type, {out, in});
  std::vector<float> wv(size_t(out * in));
  for (int64_t r = 0; r < out; ++r) {
    auto v = random_floats(size_t(in), -1.f, 1.f);
    quantize_row(plain, v.data(), wplain.tensor().row(r), in);
    dequantize_row(plain, wplain.tensor().row(r), wv.data() + r * in, in);
  }
  if (regrouped) regroup_unit_records(wplain.tensor(), wgrouped.tensor());
  const auto* wbytes = static_cast<const unsigned char*>(regrouped ? wgrouped.data() : wplain.data());
  const std::vector<unsigned char> wq(wbytes, wbytes + rb * size_t(out));
  const auto x = random_floats(size_t(T * in), -2.f, 2.f), bias = random_floats(size_t(out), -1.f, 1.f),
             y0 = random_floats(size_t(T * out), -5.f, 5.f);
  DeviceArray dw(wq.size()), dx(x.size() * 4), db(bias.size() * 4), dy(y0.size() * 4),
      dq(size_t(T) * size_t(in / 32) * sizeof(cuda_ops::XBlock));
  cudaMemcpy(dw.p, wq.data(), wq.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(dx.p, x.data(), x.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(db.p, bias.data(), bias.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dy.p, y0.data(), y0.size() * 4, cudaMemcpyHostToDevice);
  ASSERT_TRUE(cuda_ops::xreg_applies(type, T, int(in / 32), dw.p, int64_t(rb)));
  cuda_ops::quantize_x(dx.as<float>(), in, in, T, dq.as<cuda_ops::XBlock>(), nullptr);
  const cuda_ops::XregArgs a{dw.as<uint8_t>(), int64_t(rb), out, int(in / 32), dq.as<cuda_ops::XBlock>(), T,
                             db.as<float>(), dy.as<float>(), out, accumulate, nullptr};
  ASSERT_TRUE(cuda_ops::launch_xreg(type, a, shape));
  std::vector<float> got(y0.size());
  cuda_detail::cuda_check(cudaMemcpy(got.data(), dy.p, got.size() * 4, cudaMemcpyDeviceToHost), "test", "download");
  for (int t = 0; t < T; ++t)
    for (int64_t o = 0; o < out; ++o) {
      const float* xr = x.data() + t * in;
      const float* wr = wv.data() + o * in;
      const testing::DotOracle d = testing::dot_oracle(xr, wr, in);
      const double want = bias[size_t(o)] + d.value, abs_sum = d.abs_sum, act_err = d.act_err;
      const double start = accumulate ? y0[size_t(t * out + o)] : 0.0;
      const double tol = 1.01 * act_err + 4e-5 * abs_sum + 1e-5 + 1e-6 * std::fabs(start);
      const float g = got[size_t(t * out + o)];
      ASSERT_TRUE(std::fabs(g - (start + want)) <= tol)
          << "y[" << t << "][" << o << "] = " << g << ", want " << start + want << " +- " << tol;
    }
}

TEST(CudaGemvXreg, EveryShapeMatchesOracle) {
  for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q4_0C, DType::Q4_KC})
    for (int T : {1, 2})
      for (auto [r, d] : {std::pair{2, 1}, std::pair{2, 2}, std::pair{2, 4}, std::pair{4, 1}})
        for (int ks : {1, 2, 4, 8}) {
          // the regrouped layouts have rings of one chunk; q4_0c at T = 1 also of two without a k-split or with 2
          const bool q4_0c_deep = type == DType::Q4_0C && T == 1 && r == 2 && d == 2 && ks <= 2;
          if (is_internal(type) && d > 1 && !q4_0c_deep) continue;
          // 4352 = 136 units: four whole 32-unit chunks and a partial one; 67 rows: a partial row group
          check_xreg(type, T, 4352, 67, {r, ks, d}, (r + ks + d + T) % 2 == 0);
          if (HasFatalFailure()) return;
        }
}

// Depth 0: a regrouped row of at most kXregSharedMaxUnits units whole in shared memory, two rows a warp.
TEST(CudaGemvXreg, WholeRowsInSharedMemoryMatchOracle) {
  for (DType type : {DType::Q4_0C, DType::Q4_KC})
    for (int T : {1, 2})
      for (int64_t in : {256, 2048, 3584, 4096}) {  // 8 units (fewer than lanes), 64, 112 (a partial chunk), 128
        ASSERT_TRUE(cuda_ops::xreg_shared_fits(int(in / 32)));
        check_xreg(type, T, in, 67, {2, 1, 0}, (T + in / 256) % 2 == 0);
        if (HasFatalFailure()) return;
      }
}

TEST(CudaGemvXreg, WholeRowsInSharedMemoryRefuseWhatDoesNotFit) {
  EXPECT_FALSE(cuda_ops::xreg_shared_fits(cuda_ops::kXregSharedMaxUnits + 8));  // longer than a warp takes
  EXPECT_FALSE(cuda_ops::xreg_shared_fits(60));                                 // not whole records
  const cuda_ops::XregArgs longer{nullptr, 0, 16, cuda_ops::kXregSharedMaxUnits + 8, nullptr, 1, nullptr, nullptr, 16,
                                  false, nullptr};
  EXPECT_FALSE(cuda_ops::launch_xreg(DType::Q4_KC, longer, {2, 1, 0}));
  EXPECT_NE(cuda_ops::xreg_shape(DType::Q4_KC, 28672, cuda_ops::kXregSharedMaxUnits + 8, 1).depth, 0);
  const cuda_ops::XregArgs fits{nullptr, 0, 16, 128, nullptr, 1, nullptr, nullptr, 16, false, nullptr};
  EXPECT_FALSE(cuda_ops::launch_xreg(DType::Q4_KC, fits, {2, 2, 0}));  // no k-split
  EXPECT_FALSE(cuda_ops::launch_xreg(DType::Q4_0, fits, {2, 1, 0}));   // the file's layouts: no such shape
  // the default rule: q4_kc's grids of more than one wave (gate|up's 1,792 blocks on an H200), not a
  // one-block grid, nor q4_0c's
  EXPECT_EQ(cuda_ops::xreg_shape(DType::Q4_KC, 28672, 128, 1).depth, 0);
  EXPECT_NE(cuda_ops::xreg_shape(DType::Q4_KC, 16, 128, 1).depth, 0);
  EXPECT_NE(cuda_ops::xreg_shape(DType::Q4_0C, 28672, 128, 1).depth, 0);
}

TEST(CudaGemvXreg, ShortRowsAndTheDispatchersPick) {
  for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q4_0C, DType::Q4_KC}) {
    const int64_t in = type == DType::Q4_0 || type == DType::Q8_0 ? 64 : 256;  // fewer units than lanes
    check_xreg(type, 1, in, 5, {4, 8, 1}, true);
    check_xreg(type, 1, in, 5, {2, 1, is_internal(type) ? 1 : 4}, false);
    check_xreg(type, 2, 4096, 1000, cuda_ops::xreg_shape(type, 1000, 4096 / 32, 2), false);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace llmr
