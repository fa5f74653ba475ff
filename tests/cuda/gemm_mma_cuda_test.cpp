// The quantized-weight tensor-core GEMM (gemm_mma.cu) against ReferenceBackend::matmul on the same
// freshly quantized random weights: every type it takes (q4_0, q4_1, q8_0, q4_k, q5_k, q6_k), T in
// {9, 16, 17, 33, 64, 100, 128} (partial token tiles of 16, 32 and 64), row counts that leave a partial
// tile of 128 rows, rows of several stages and of a partial last stage (q4_0/q4_1/q8_0 rows of 13
// blocks), long rows on few tiles (K split over blocks, then summed), bias on and off, strided x and y
// rows (the padding of y must stay untouched). Then the dispatch in CudaBackend::matmul:
// LLMR_CUDA_MMA_MAX_TOKENS unset (default 96) takes this kernel, 0 or a smaller bound does not.
//
// Tolerance, per output element, with abs_sum = sum_k |x_k w_k| (w the dequantized weights, in double):
// x and the decoded w are each rounded to f16 (relative 2^-11 each, so each product moves by at most
// ~2^-10 of |x_k w_k|), products are summed in f32 by the tensor cores (<= 4096/16 additions of
// relative 2^-24 each here: ~1.5e-5 abs_sum), split partials and the bias add a few f32 roundings. We
// allow 1.5e-3 abs_sum + 1e-5 (the absolute part covers f16 underflow of tiny products), the bound
// tests/cuda/matmul_cuda_test.cpp holds the older dequantize + cuBLAS path to.
// That bound would miss one mis-decoded weight in a long row, so each result is also held to the older
// path's (LLMR_CUDA_MMA_MAX_TOKENS=0) much more tightly: both paths multiply the same f16 values (x
// rounded the same way; the weights decoded to the same f16 bits) and f16 x f16 products are exact in
// f32, so they differ only in the order of f32 additions: n_in/16 sequential tensor-core steps of <= 16
// products each, plus splits and the bias, each step off by at most a few 2^-24 of the magnitudes it
// adds. We allow 16 (n_in/16 + 32) 2^-23 abs_sum + 1e-6 (1.2e-4 abs_sum at n_in = 512, where one wrong
// weight moves its output by ~|x_k w_k| ~ 2e-3 abs_sum).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/matmul_kernels.h"
#include "ops/reference/reference_backend.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

using testing::random_floats;

const DType kMmaTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
const int64_t kTokens[] = {9, 16, 17, 33, 64, 100, 128};

CudaBackend& cuda() {
  static std::unique_ptr<Backend> b = make_cuda_backend();
  return dynamic_cast<CudaBackend&>(*b);
}

bool k_quant(DType t) { return t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K; }

// One problem on the host: weights [out, in] quantized from fresh random rows (and their dequantized
// values), x [T, in] in rows of in + x_pad floats, bias [out], and the reference result.
struct Problem {
  DType type;
  int64_t T, in, out, x_pad, y_pad;
  bool with_bias;
  HostBuffer w, x, bias, want;
  std::vector<float> wv;  // dequantized [out, in]

  Problem(DType type_, int64_t T_, int64_t in_, int64_t out_, bool with_bias_, int64_t x_pad_ = 0, int64_t y_pad_ = 0)
      : type(type_), T(T_), in(in_), out(out_), x_pad(x_pad_), y_pad(y_pad_), with_bias(with_bias_),
        w(type_, {out_, in_}), x(DType::F32, {T_, in_ + x_pad_}), bias(DType::F32, {out_}),
        want(DType::F32, {T_, out_}), wv(size_t(out_ * in_)) {
    for (int64_t r = 0; r < out; ++r) {
      auto v = random_floats(size_t(in), -1.f, 1.f);
      quantize_row(type, v.data(), w.tensor().row(r), in);
      dequantize_row(type, w.tensor().row(r), wv.data() + r * in, in);
    }
    auto xv = random_floats(size_t(T * (in + x_pad)), -2.f, 2.f);
    std::memcpy(x.data(), xv.data(), xv.size() * 4);
    auto bv = random_floats(size_t(out));
    std::memcpy(bias.data(), bv.data(), bv.size() * 4);
    ReferenceBackend ref;
    const Tensor bt = bias.tensor();
    ref.matmul(x_view(x.tensor()), w.tensor(), with_bias ? &bt : nullptr, want.tensor());
  }

  // [T, in] over rows of in + x_pad floats.
  Tensor x_view(Tensor full) const {
    full.shape[1] = in;
    return full;
  }
  const float* x_row(int64_t t) const { return static_cast<const float*>(x.data()) + t * (in + x_pad); }

  // sum_k |x_k w_k| of output (t, o)
  double abs_sum(int64_t t, int64_t o) const {
    double sum = 0;
    const float* xr = x_row(t);
    const float* wr = wv.data() + o * in;
    for (int64_t k = 0; k < in; ++k) sum += std::fabs(double(xr[k]) * wr[k]);
    return sum;
  }
  double tolerance(int64_t t, int64_t o) const { return 1.5e-3 * abs_sum(t, o) + 1e-5; }

  std::string label() const {
    return std::string(name(type)) + " T=" + std::to_string(T) + " in=" + std::to_string(in) +
           " out=" + std::to_string(out) + (with_bias ? " +bias" : "") + " x_pad=" + std::to_string(x_pad) +
           " y_pad=" + std::to_string(y_pad);
  }
};

// Device copies of a problem's inputs and a NaN-poisoned y [T, out + y_pad].
struct DeviceProblem {
  std::unique_ptr<Buffer> w, x, bias, y;
  Tensor xt, yt, bt;
  explicit DeviceProblem(const Problem& p) {
    CudaBackend& be = cuda();
    w = be.upload(p.w.tensor());
    x = be.upload(p.x.tensor());
    bias = be.upload(p.bias.tensor());
    HostBuffer poison(DType::F32, {p.T, p.out + p.y_pad});
    std::vector<float> nan(size_t(p.T * (p.out + p.y_pad)), std::nanf(""));
    std::memcpy(poison.data(), nan.data(), nan.size() * 4);
    y = be.upload(poison.tensor());
    xt = p.x_view(x->tensor());
    yt = y->tensor();
    yt.shape[1] = p.out;
    bt = bias->tensor();
  }
  const Tensor* bias_or_null(const Problem& p) const { return p.with_bias ? &bt : nullptr; }

  // The whole padded y, rows of out + y_pad.
  std::vector<float> download(const Problem& p) const {
    std::vector<float> got(size_t(p.T * (p.out + p.y_pad)));
    cuda().download(y->tensor(), got.data());
    cuda().synchronize();
    return got;
  }
};

// Every element within tolerance of the reference; the padding between y rows still NaN.
void expect_matches(const Problem& p, const std::vector<float>& got) {
  SCOPED_TRACE(p.label());
  const int64_t pitch = p.out + p.y_pad;
  for (int64_t t = 0; t < p.T; ++t) {
    for (int64_t o = 0; o < p.out; ++o) {
      const float g = got[size_t(t * pitch + o)], want = p.want.tensor().row<float>(t)[o];
      const double tol = p.tolerance(t, o);
      ASSERT_TRUE(std::fabs(double(g) - want) <= tol)
          << "y[" << t << "][" << o << "] = " << g << ", want " << want << " +- " << tol;
    }
    for (int64_t o = p.out; o < pitch; ++o)
      ASSERT_TRUE(std::isnan(got[size_t(t * pitch + o)])) << "padding y[" << t << "][" << o << "] was written";
  }
}

// gemm_mma's result within the summation-order bound (see top) of the older path's.
void expect_near_old_path(const Problem& p, const std::vector<float>& got, const std::vector<float>& old_path) {
  SCOPED_TRACE(p.label() + " vs the dequantize + cuBLAS path");
  const int64_t pitch = p.out + p.y_pad;
  const double rel = 16.0 * (double(p.in) / 16 + 32) * std::ldexp(1.0, -23);
  for (int64_t t = 0; t < p.T; ++t)
    for (int64_t o = 0; o < p.out; ++o) {
      const double tol = rel * p.abs_sum(t, o) + 1e-6;
      const float g = got[size_t(t * pitch + o)], want = old_path[size_t(t * pitch + o)];
      ASSERT_TRUE(std::fabs(double(g) - want) <= tol)
          << "y[" << t << "][" << o << "] = " << g << ", older path " << want << " +- " << tol;
    }
}

std::vector<float> run_direct(const Problem& p) {
  DeviceProblem d(p);
  EXPECT_TRUE(cuda_ops::gemm_mma(d.xt, d.w->tensor(), d.bias_or_null(p), d.yt, cuda().stream())) << p.label();
  return d.download(p);
}

std::vector<float> run_backend(const Problem& p) {
  DeviceProblem d(p);
  cuda().matmul(d.xt, d.w->tensor(), d.bias_or_null(p), d.yt);
  return d.download(p);
}

// Restores LLMR_CUDA_MMA_MAX_TOKENS as it was when the test began.
class MmaEnv {
 public:
  MmaEnv() {
    const char* v = std::getenv(kVar);
    had_ = v != nullptr;
    if (had_) old_ = v;
  }
  ~MmaEnv() {
    if (had_) ::setenv(kVar, old_.c_str(), 1);
    else ::unsetenv(kVar);
  }
  static constexpr const char* kVar = "LLMR_CUDA_MMA_MAX_TOKENS";

 private:
  bool had_ = false;
  std::string old_;
};

// The older path through CudaBackend::matmul (LLMR_CUDA_MMA_MAX_TOKENS=0).
std::vector<float> run_old_path(const Problem& p) {
  MmaEnv restore;
  ::setenv(MmaEnv::kVar, "0", 1);
  return run_backend(p);
}

// gemm_mma against the reference and against the older path.
void check(const Problem& p) {
  const auto got = run_direct(p);
  expect_matches(p, got);
  if (::testing::Test::HasFatalFailure()) return;
  expect_near_old_path(p, got, run_old_path(p));
}

class GemmMma : public ::testing::TestWithParam<DType> {};

// Row counts that leave partial tiles of 128 rows; rows of 2 or 3 stages of 256 elements (q4_0 / q4_1 /
// q8_0: 13 blocks, the last stage partial), which these few tiles split over blocks, and rows of one
// stage, which cannot be split; every T, bias on and off.
TEST_P(GemmMma, EveryTokenCountMatchesReference) {
  const DType type = GetParam();
  for (int64_t T : kTokens) {
    Problem a(type, T, 512, 200, T % 2 == 1);
    check(a);
    if (HasFatalFailure()) return;
    Problem b(type, T, k_quant(type) ? 768 : 416, 67, T % 2 == 0);
    check(b);
    if (HasFatalFailure()) return;
    Problem c(type, T, 256, 260, T % 2 == 0);  // one stage: no K split, the bias added by the kernel itself
    check(c);
    if (HasFatalFailure()) return;
  }
}

// Long rows on few tiles: K is split across blocks and the partials summed (bias added once).
TEST_P(GemmMma, SplitKMatchesReference) {
  const DType type = GetParam();
  for (int64_t T : {9, 33, 128}) {
    Problem p(type, T, 4096, 136, T != 33);
    check(p);
    if (HasFatalFailure()) return;
  }
}

// x rows longer than in (stride in + 24 floats) and y rows longer than out: the kernel reads only
// x's first `in` columns and writes only y's first `out`.
TEST_P(GemmMma, StridedRows) {
  const DType type = GetParam();
  for (int64_t T : {17, 100}) {
    Problem p(type, T, 1024, 150, true, 24, 8);
    check(p);
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(MmaTypes, GemmMma, ::testing::ValuesIn(kMmaTypes),
                         [](const auto& p) { return std::string(name(p.param)); });

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// Through CudaBackend::matmul: with the variable unset (default 96) T = 17 and T = 96 take gemm_mma
// (bit-identical to calling it directly: the kernel is deterministic); with 0 the older path runs
// (not bit-identical), as with a bound below T, still within the same tolerance of the reference.
TEST(GemmMmaDispatch, EnvironmentSelectsPath) {
  MmaEnv restore;
  for (DType type : {DType::Q4_0, DType::Q6_K}) {
    for (int64_t T : {17, 96}) {
      Problem p(type, T, 1024, 130, true, 8, 0);
      ::unsetenv(MmaEnv::kVar);
      const auto direct = run_direct(p);
      const auto dispatched = run_backend(p);
      expect_matches(p, dispatched);
      EXPECT_TRUE(same_bits(direct, dispatched)) << p.label() << ": default dispatch did not take gemm_mma";

      ::setenv(MmaEnv::kVar, "0", 1);
      const auto old_path = run_backend(p);
      expect_matches(p, old_path);
      // cuBLAS sums in another order: over thousands of 1024-term sums some bits differ
      EXPECT_FALSE(same_bits(direct, old_path)) << p.label() << ": LLMR_CUDA_MMA_MAX_TOKENS=0 still took gemm_mma";
      ::setenv(MmaEnv::kVar, std::to_string(T - 1).c_str(), 1);
      expect_matches(p, run_backend(p));
      ::setenv(MmaEnv::kVar, std::to_string(T).c_str(), 1);
      EXPECT_TRUE(same_bits(direct, run_backend(p))) << p.label() << ": bound = T did not take gemm_mma";
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(GemmMmaDispatch, BadEnvironmentValueNamesTheVariable) {
  MmaEnv restore;
  ::setenv(MmaEnv::kVar, "lots", 1);
  Problem p(DType::Q4_0, 16, 256, 8, false);
  DeviceProblem d(p);
  try {
    cuda().matmul(d.xt, d.w->tensor(), nullptr, d.yt);
    ADD_FAILURE() << "no Error for LLMR_CUDA_MMA_MAX_TOKENS=lots";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("LLMR_CUDA_MMA_MAX_TOKENS"), std::string::npos) << e.what();
  }
}

// What gemm_mma declines (the caller then takes gemm()): plain types, and q4_k rows that are not
// 4-byte aligned.
TEST(GemmMmaDispatch, DeclinesUnsupportedTypesAndAlignment) {
  CudaBackend& be = cuda();
  auto x = be.alloc(DType::F32, {16, 256});
  auto y = be.alloc(DType::F32, {16, 4});
  auto wf = be.alloc(DType::F16, {4, 256});
  EXPECT_FALSE(cuda_ops::gemm_mma(x->tensor(), wf->tensor(), nullptr, y->tensor(), be.stream()));
  auto wk = be.alloc(DType::Q4_K, {5, 256});
  Tensor shifted = Tensor::view(static_cast<uint8_t*>(wk->tensor().data) + 2, DType::Q4_K, {4, 256}, Device::Cuda);
  EXPECT_FALSE(cuda_ops::gemm_mma(x->tensor(), shifted, nullptr, y->tensor(), be.stream()));
  be.synchronize();
}

}  // namespace
}  // namespace llmr
