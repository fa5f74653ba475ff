// GPU-specific matmul paths against a double oracle on fresh random inputs: the matrix-vector
// kernels (T <= 8: int8 activations + dp4a for quantized types, quantized inside the kernel or by a
// kernel before it, and the LLMR_CUDA_OLD_KERNELS=1 path; f32 for plain types) and the
// tensor-core GEMM (T > 8), every weight type, Llama-3-8B sized matrices and T in {1, 2, 7, 64, 512}.
//
// Tolerances, per output element, with abs_sum = sum_k |x_k w_k| and w the stored (dequantized) weights:
// - plain types (f32, f16, bf16), both paths: 4e-5 abs_sum + 1e-5. The GEMV sums in f32; the GEMM is
//   f32 (pedantic, no TF32) or two half-precision GEMMs on x = hi + lo with x - hi - lo < 2^-18 |x|.
// - quantized types, T <= 8: x is rounded to d q with d = amax/127 per 32 values, so each x_k moves by
//   at most amax/254: the result moves by at most act_err = sum_blocks amax/254 sum|w| (as the CPU's
//   battery), plus the f32 slack above.
// - quantized types, T <= 8, LLMR_CUDA_FLOAT_GEMV=1: weights decoded to the same f32 values as
//   dequantize_row and x kept in f32, so the only rounding is the f32 sum: each lane adds in/32
//   products in sequence, then 5 shuffle levels and the bias: at most (in/32 + 6) 2^-24 (abs_sum +
//   |bias|) to first order; we allow (in/32 + 16) 2^-24 (abs_sum + 1) + 1e-6 (|bias| <= 1), about
//   1e-5 abs_sum at in = 4096, far tighter than the int8 path's act_err.
// - quantized types, T > 8: x and the dequantized w are each rounded to f16 (relative 2^-11 each) and
//   the products are summed in f32 by the tensor cores: at most ~2^-10 abs_sum; we allow 1.5e-3 abs_sum.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "ops/reference/reference_backend.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

using testing::random_floats;

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                              DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

Backend& gpu() {
  static std::unique_ptr<Backend> b = make_cuda_backend();
  return *b;
}

bool quantized(DType t) { return info(t).quantized; }

// A weight matrix [out, in] whose rows cycle through `distinct` freshly quantized random rows (so
// 14336 x 4096 matrices are quick to build), with their dequantized values.
struct Weights {
  HostBuffer q;
  std::vector<float> values;  // [distinct, in]
  int64_t distinct;
  const float* row(int64_t r) const { return values.data() + (r % distinct) * q.tensor().shape[1]; }
};

Weights make_weights(DType type, int64_t out, int64_t in, int64_t distinct) {
  distinct = std::min(out, distinct);
  Weights w{HostBuffer(type, {out, in}), std::vector<float>(size_t(distinct * in)), distinct};
  const size_t rb = row_bytes(type, in);
  for (int64_t r = 0; r < distinct; ++r) {
    auto v = random_floats(size_t(in), -1.f, 1.f);
    quantize_row(type, v.data(), w.q.tensor().row(r), in);
    dequantize_row(type, w.q.tensor().row(r), w.values.data() + r * in, in);
  }
  for (int64_t r = distinct; r < out; ++r) std::memcpy(w.q.tensor().row(r), w.q.tensor().row(r % distinct), rb);
  return w;
}

struct Bound {
  double value, tol, abs_sum;
};

// The exact dot product of x and w (in double) and the tolerance of the path T selects (see top);
// float_gemv: the LLMR_CUDA_FLOAT_GEMV=1 path's bound instead.
Bound oracle(DType type, int64_t T, const float* xr, const float* wr, int64_t in, bool float_gemv = false) {
  const testing::DotOracle d = testing::dot_oracle(xr, wr, in);
  const double want = d.value, abs_sum = d.abs_sum, act_err = d.act_err;
  if (float_gemv) return {want, (double(in) / 32 + 16) * std::ldexp(1.0, -24) * (abs_sum + 1) + 1e-6, abs_sum};
  double tol = 4e-5 * abs_sum + 1e-5;
  if (quantized(type) && T <= 8) tol += 1.01 * act_err;
  if (quantized(type) && T > 8) tol += 1.5e-3 * abs_sum;
  return {want, tol, abs_sum};
}

// Strided operands: w's rows `w_extra` columns (whole blocks) longer than the `in` the matmul sees,
// x's rows `x_extra` floats longer (an odd count leaves the rows 4-byte aligned only).
struct Layout {
  int64_t w_extra = 0, x_extra = 0;
};

// Runs the GPU matmul and checks output rows `rows` (all tokens) against the double oracle.
void check_gpu_matmul(DType type, int64_t T, int64_t in, int64_t out, int64_t distinct, bool with_bias,
                      const std::vector<int64_t>& rows, bool float_gemv = false, Layout layout = {}) {
  SCOPED_TRACE(std::string(name(type)) + " T=" + std::to_string(T) + " in=" + std::to_string(in) +
               " out=" + std::to_string(out) + (with_bias ? " +bias" : "") + (float_gemv ? " float_gemv" : "") +
               " w_extra=" + std::to_string(layout.w_extra) + " x_extra=" + std::to_string(layout.x_extra));
  const int64_t w_cols = in + layout.w_extra, x_cols = in + layout.x_extra;
  Weights w = make_weights(type, out, w_cols, distinct);  // row(r) starts with the `in` values the matmul sees
  HostBuffer x(DType::F32, {T, x_cols}), y(DType::F32, {T, out}), bias(DType::F32, {out});
  auto xfull = random_floats(size_t(T * x_cols), -2.f, 2.f);
  std::memcpy(x.data(), xfull.data(), xfull.size() * 4);
  std::vector<float> xv(size_t(T * in));  // the activations the matmul sees, [T, in]
  for (int64_t t = 0; t < T; ++t)
    std::memcpy(xv.data() + t * in, xfull.data() + t * x_cols, size_t(in) * 4);
  auto bv = random_floats(size_t(out));
  std::memcpy(bias.data(), bv.data(), bv.size() * 4);
  std::vector<float> poison(size_t(T * out), std::nanf(""));
  std::memcpy(y.data(), poison.data(), poison.size() * 4);

  Backend& be = gpu();
  auto dw = be.upload(w.q.tensor()), dx = be.upload(x.tensor()), dy = be.upload(y.tensor()), db = be.upload(bias.tensor());
  Tensor dbt = db->tensor(), dwt = dw->tensor(), dxt = dx->tensor();
  dwt.shape[1] = in;  // the first `in` columns, the row stride of the wider matrix
  dxt.shape[1] = in;
  be.matmul(dxt, dwt, with_bias ? &dbt : nullptr, dy->tensor());
  std::vector<float> got(size_t(T * out));
  be.download(dy->tensor(), got.data());
  be.synchronize();

  for (int64_t o : rows) {
    const float* wr = w.row(o);
    for (int64_t t = 0; t < T; ++t) {
      const float* xr = xv.data() + t * in;
      const Bound b = oracle(type, T, xr, wr, in, float_gemv);
      const double want = b.value + (with_bias ? bv[size_t(o)] : 0.0), tol = b.tol, abs_sum = b.abs_sum;
      const float g = got[size_t(t * out + o)];
      ASSERT_TRUE(std::fabs(g - want) <= tol) << "y[" << t << "][" << o << "] = " << g << ", want " << want
                                              << " +- " << tol << " (sum |x||w| = " << abs_sum << ")";
    }
  }
}

std::vector<int64_t> sample_rows(int64_t out, int n) {
  std::vector<int64_t> rows = {0, out - 1};
  std::uniform_int_distribution<int64_t> any(0, out - 1);
  while (int(rows.size()) < n) rows.push_back(any(testing::rng()));
  return rows;
}

std::vector<int64_t> all_rows(int64_t out) {
  std::vector<int64_t> rows(static_cast<size_t>(out));
  for (int64_t i = 0; i < out; ++i) rows[size_t(i)] = i;
  return rows;
}

class CudaMatmul : public ::testing::TestWithParam<DType> {};

// Every row checked, rows all distinct: both paths at every T of interest, with and without bias.
TEST_P(CudaMatmul, EveryRowMatchesOracle) {
  const DType type = GetParam();
  for (int64_t T : {1, 2, 3, 7, 8, 9, 64, 512}) {
    const int64_t out = T >= 64 ? 96 : 259;  // odd counts leave a partial block of rows
    check_gpu_matmul(type, T, 4096, out, out, T % 2 == 1, all_rows(out));
    if (HasFatalFailure()) return;
  }
  check_gpu_matmul(type, 5, 512, 67, 67, true, all_rows(67));  // short rows: fewer units than lanes
}

// Llama-3-8B projection shapes (q/o: 4096x4096, gate/up: 14336x4096, down: 4096x14336), sampled rows.
TEST_P(CudaMatmul, LlamaShapesSampledRows) {
  const DType type = GetParam();
  const int64_t shapes[][2] = {{4096, 4096}, {14336, 4096}, {4096, 14336}};  // {out, in}
  for (const auto& s : shapes)
    for (int64_t T : {1, 7, 512}) {
      check_gpu_matmul(type, T, s[1], s[0], 61, T == 7, sample_rows(s[0], T == 512 ? 8 : 24));
      if (HasFatalFailure()) return;
    }
}

// The fused matrix-vector kernel's two-rows-per-warp layout (>= 8448 rows, T <= 4) with a partial
// last block (8461 rows), its one-row layout at T = 8, the quantize-first fallback (activations too
// large for shared memory: T = 8 x 8192), q4_0 / q8_0 rows of an even number of units (read as
// aligned words) and of an odd number (127, 2-byte loads), and the previous kernels
// (LLMR_CUDA_OLD_KERNELS=1). The fused kernel is opt-in (LLMR_CUDA_FUSED_GEMV=1).
TEST(CudaMatmulGemv, FusedLayoutsFallbackAndOldPath) {
  ::setenv("LLMR_CUDA_FUSED_GEMV", "1", 1);
  for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    check_gpu_matmul(type, 1, 4096, 8461, 61, true, all_rows(8461));
    check_gpu_matmul(type, 4, 2048, 8461, 61, false, sample_rows(8461, 200));
    check_gpu_matmul(type, 8, 8192, 300, 61, true, all_rows(300));
    if (type != DType::Q4_K && type != DType::Q5_K && type != DType::Q6_K)  // 256-element super-blocks
      check_gpu_matmul(type, 3, 4064, 300, 61, false, all_rows(300));       // 127 units: no q4_0/q8_0 word loads
    ::setenv("LLMR_CUDA_OLD_KERNELS", "1", 1);
    check_gpu_matmul(type, 2, 4096, 259, 259, true, all_rows(259));
    ::unsetenv("LLMR_CUDA_OLD_KERNELS");
    if (::testing::Test::HasFatalFailure()) break;
  }
  ::unsetenv("LLMR_CUDA_FUSED_GEMV");
}

// The f32-activation GEMV (LLMR_CUDA_FLOAT_GEMV=1) held to its f32 bound (see top), every quantized
// type: T = 1, 2 (x staged in shared memory) and 8 (x [8 x 4096] too large: read from global), Llama
// shapes (8461 rows: a partial last block of rows, and more rows than the staged grid's blocks x
// warps, so warps loop), odd row counts, rows of an odd number of units (127: no q4_0/q8_0 word
// loads) and long rows (14336: read from global at T = 1 too).
TEST(CudaMatmulFloatGemv, EveryQuantizedTypeWithinF32Bound) {
  ::setenv("LLMR_CUDA_FLOAT_GEMV", "1", 1);
  for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    for (int64_t T : {1, 2, 8}) {
      check_gpu_matmul(type, T, 4096, 4096, 61, T != 2, sample_rows(4096, 64), true);
      check_gpu_matmul(type, T, 4096, 8461, 61, T == 2, all_rows(8461), true);
      check_gpu_matmul(type, T, 4096, 259, 259, T == 1, all_rows(259), true);
      if (::testing::Test::HasFatalFailure()) break;
    }
    check_gpu_matmul(type, 1, 14336, 4096, 61, true, sample_rows(4096, 64), true);
    check_gpu_matmul(type, 5, 512, 67, 67, true, all_rows(67), true);  // fewer units than lanes
    if (type != DType::Q4_K && type != DType::Q5_K && type != DType::Q6_K)  // 256-element super-blocks
      check_gpu_matmul(type, 3, 4064, 301, 61, false, all_rows(301), true);
    if (::testing::Test::HasFatalFailure()) break;
  }
  ::unsetenv("LLMR_CUDA_FLOAT_GEMV");
}

// The int8-activation GEMV, which the default routing now keeps for wide x only, on narrow x too
// (LLMR_CUDA_FLOAT_GEMV=0).
TEST(CudaMatmulInt8Gemv, EveryQuantizedTypeOnNarrowRows) {
  ::setenv("LLMR_CUDA_FLOAT_GEMV", "0", 1);
  for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    for (int64_t T : {1, 2, 8}) {
      check_gpu_matmul(type, T, 4096, 4096, 61, T != 2, sample_rows(4096, 64));
      check_gpu_matmul(type, T, 4096, 259, 259, T == 1, all_rows(259));
      if (::testing::Test::HasFatalFailure()) break;
    }
    if (::testing::Test::HasFatalFailure()) break;
  }
  ::unsetenv("LLMR_CUDA_FLOAT_GEMV");
}

const DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

bool k_quant(DType t) { return t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K; }

// Sets LLMR_CUDA_FLOAT_GEMV for one scope ("1": f32 activations, "0": int8), restoring "unset" after.
struct FloatGemvEnv {
  explicit FloatGemvEnv(bool on) { ::setenv("LLMR_CUDA_FLOAT_GEMV", on ? "1" : "0", 1); }
  ~FloatGemvEnv() { ::unsetenv("LLMR_CUDA_FLOAT_GEMV"); }
};

// The staged GEMV (gemv_staged.cuh), both activation modes, every T from 1 to 8: every row of an
// odd row count (259: neither a multiple of the two rows per warp nor of the block's rows), a single
// row, and 8461 rows (more row groups than the resident grid has warps: warps loop). x staged in
// shared memory: f32 up to 64 KB (in = 2048 at every T, 4096 at T <= 2), XBlocks up to 64 KB
// (in = 4096 at every T); wider XBlocks read from global memory (in = 14336, T = 5 and 8).
TEST(CudaMatmulStagedGemv, EveryQuantizedTypeEveryTokenCount) {
  for (DType type : kQuantTypes)
    for (bool float_x : {true, false}) {
      FloatGemvEnv env(float_x);
      for (int64_t T = 1; T <= 8; ++T) {
        check_gpu_matmul(type, T, 2048, 259, 259, T % 2 == 1, all_rows(259), float_x);
        if (float_x && T > 2) continue;
        check_gpu_matmul(type, T, 4096, 259, 61, T % 2 == 0, all_rows(259), float_x);
        if (::testing::Test::HasFatalFailure()) return;
      }
      check_gpu_matmul(type, 1, 4096, 1, 1, true, all_rows(1), float_x);
      check_gpu_matmul(type, 2, 4096, 8461, 61, false, sample_rows(8461, 300), float_x);
      if (!float_x) {
        check_gpu_matmul(type, 5, 14336, 67, 67, true, all_rows(67));
        check_gpu_matmul(type, 8, 14336, 300, 61, false, all_rows(300));
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
}

// Rows whose length is not a whole number of the staged kernel's chunks (32 units, q6_k 64), with
// row strides padded to 16 bytes (the staged kernel's condition): q4_0 / q8_0 / q4_1 at 127 units
// and 3 units (fewer than a warp's lanes), k-quants at 24 and 40 units; strided x, 16-byte aligned
// (x_extra = 4: float4 staging) and only 4-byte aligned (x_extra = 3: scalar staging).
TEST(CudaMatmulStagedGemv, PartialChunksPaddedRowsStridedX) {
  for (DType type : kQuantTypes)
    for (bool float_x : {true, false}) {
      FloatGemvEnv env(float_x);
      // padded to a multiple of 2048 (k-quants: 8 super-blocks, 8 x 210 bytes for q6_k) or 256 (8 blocks)
      const int64_t pad = k_quant(type) ? 2048 : 256;
      for (int64_t in : k_quant(type) ? std::vector<int64_t>{768, 1280} : std::vector<int64_t>{4064, 96}) {
        const int64_t extra = (in + pad - 1) / pad * pad - in;
        const int64_t rb = int64_t(row_bytes(type, in + extra));
        ASSERT_EQ(rb % 16, 0) << name(type) << " in=" << in << ": the padded row is " << rb << " bytes";
        for (int64_t T : {1, 3, 8}) {
          // f32 x over 64 KB is not staged: the previous kernels, which take the int8 path for
          // x rows not 16-byte aligned (outside the f32 bound this test holds float_x to)
          if (float_x && T * in * 4 > 64 * 1024) continue;
          check_gpu_matmul(type, T, in, 131, 131, T != 3, all_rows(131), float_x, {extra, 4});
          check_gpu_matmul(type, T, in, 37, 37, T == 3, all_rows(37), float_x, {extra, 3});
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
}

// The plain-type kernel (gemv_plain.cuh): rows shorter than one batch of vectors, a partial last
// batch (f16/bf16 4104 = 513 vectors), single rows, strided (16-byte aligned) x, every T.
TEST(CudaMatmulStagedGemv, PlainTypesPartialBatchesStridedX) {
  for (DType type : {DType::F32, DType::F16, DType::BF16})
    for (int64_t T = 1; T <= 8; ++T) {
      check_gpu_matmul(type, T, 4104, 77, 77, T % 2 == 1, all_rows(77), false, {0, 4});
      check_gpu_matmul(type, T, 24, 9, 9, true, all_rows(9));
      check_gpu_matmul(type, T, 2048, 1, 1, false, all_rows(1), false, {8, 8});
      if (::testing::Test::HasFatalFailure()) return;
    }
}

// The plain-type kernel with two passes of loads in flight (the default for one-wave grids of rows
// longer than one pass, T <= 2) and with one (LLMR_CUDA_PLAIN_PIPELINE=0): rows of an odd number of
// passes (4104 f16 values = 513 vectors: 5 passes of 128, the last partial), of an even number
// (14336: 28), of one pass and a vector (1032), odd row counts, strided x.
TEST(CudaMatmulStagedGemv, PlainTypesTwoPassesInFlight) {
  for (const char* pipeline : {"1", "0"}) {
    SCOPED_TRACE(std::string("LLMR_CUDA_PLAIN_PIPELINE=") + pipeline);
    ::setenv("LLMR_CUDA_PLAIN_PIPELINE", pipeline, 1);
    for (DType type : {DType::F32, DType::F16, DType::BF16})
      for (int64_t T : {1, 2}) {
        check_gpu_matmul(type, T, 4104, 77, 77, T == 1, all_rows(77), false, {0, 4});
        check_gpu_matmul(type, T, 14336, 259, 61, false, all_rows(259));
        check_gpu_matmul(type, T, 1032, 9, 9, true, all_rows(9));
        if (::testing::Test::HasFatalFailure()) break;
      }
  }
  ::unsetenv("LLMR_CUDA_PLAIN_PIPELINE");
}

INSTANTIATE_TEST_SUITE_P(AllTypes, CudaMatmul, ::testing::ValuesIn(kWeightTypes),
                         [](const auto& p) { return std::string(name(p.param)); });

// The whole-matrix comparison with the oracle backend itself, on a shape small enough for it.
TEST(CudaMatmulVsReference, SmallShapesEveryType) {
  ReferenceBackend ref;
  for (DType type : kWeightTypes)
    for (int64_t T : {1, 4, 33}) {
      SCOPED_TRACE(std::string(name(type)) + " T=" + std::to_string(T));
      const int64_t in = 256, out = 40;
      Weights w = make_weights(type, out, in, out);
      HostBuffer x(DType::F32, {T, in}), want(DType::F32, {T, out});
      auto xv = random_floats(size_t(T * in), -1.f, 1.f);
      std::memcpy(x.data(), xv.data(), xv.size() * 4);
      ref.matmul(x.tensor(), w.q.tensor(), nullptr, want.tensor());
      Backend& be = gpu();
      auto dw = be.upload(w.q.tensor()), dx = be.upload(x.tensor());
      auto dy = be.alloc(DType::F32, {T, out});
      be.matmul(dx->tensor(), dw->tensor(), nullptr, dy->tensor());
      std::vector<float> got(size_t(T * out));
      be.download(dy->tensor(), got.data());
      be.synchronize();
      // the reference's own rounding (double sums cast once) is far inside these bounds
      for (int64_t t = 0; t < T; ++t)
        for (int64_t o = 0; o < out; ++o) {
          const double tol = oracle(type, T, xv.data() + t * in, w.row(o), in).tol;
          ASSERT_NEAR(got[size_t(t * out + o)], want.tensor().row<float>(t)[o], tol) << "y[" << t << "][" << o << "]";
        }
    }
}

// Errors name the op: host tensors are refused.
TEST(CudaMatmulErrors, HostTensorsAreRefused) {
  HostBuffer x(DType::F32, {1, 32}), w(DType::Q8_0, {2, 32}), y(DType::F32, {1, 2});
  try {
    gpu().matmul(x.tensor(), w.tensor(), nullptr, y.tensor());
    ADD_FAILURE() << "no Error for host tensors";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("matmul"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace llmr
