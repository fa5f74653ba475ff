// The regrouped layouts (Q4_0C, Q4_KC: tensor/unit_records.h) on the GPU. CudaBackend::upload_matmul_weight
// regroups the q4_0 / q4_k matrices it can hold, and only those (LLMR_CUDA_REGROUP=0: none), byte for
// byte as the host does. Then every product over a regrouped matrix against the same product over the
// plain one and against the exact one: CudaBackend::matmul at T = 1, 2 (register-held GEMV), 3..8
// (staged GEMV), 9..96 (tensor-core GEMM) and beyond (dequantize + cuBLAS), and the fused
// matmul_add, rms_norm_matmul and swiglu_matmul_add; rows of a partial chunk of 32 units, row counts
// of a partial row group; and the norm handed from a residual product to the next product (between
// f16 products too).
// Tolerances: against the plain layout's result, only the order of f32 additions may differ (the
// kernels decode the same values; a k-split may differ): 1e-5 sum|x w| + 1e-6, far below one
// mis-decoded weight (~|x_k w_k|). Against the exact product as the plain types' batteries allow:
// 8-bit activations for T <= 8 (tests/cuda/gemv_xreg_cuda_test.cpp), f16 operands beyond
// (tests/cuda/gemm_mma_cuda_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/gemv_xreg.h"
#include "backend/cuda/matmul_kernels.h"
#include "backend/cuda/norm_handoff.h"
#include "tensor/quant.h"
#include "tensor/unit_records.h"
#include "test_util.h"

namespace llmr {
namespace {

using testing::random_floats;

CudaBackend& cuda() {
  static std::unique_ptr<Backend> b = make_cuda_backend();
  return dynamic_cast<CudaBackend&>(*b);
}

HostBuffer host_floats(std::vector<int64_t> shape, float lo, float hi) {
  HostBuffer b(DType::F32, shape);
  const auto v = random_floats(size_t(b.tensor().numel()), lo, hi);
  std::memcpy(b.data(), v.data(), v.size() * 4);
  return b;
}

std::vector<float> download_floats(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  cuda().download(t, v.data());
  cuda().synchronize();
  return v;
}

// Sets an environment variable for one scope, restoring it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* var, const char* value) : var_(var) {
    const char* v = std::getenv(var);
    had_ = v != nullptr;
    if (had_) old_ = v;
    ::setenv(var, value, 1);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(var_, old_.c_str(), 1);
    else ::unsetenv(var_);
  }

 private:
  const char* var_;
  bool had_ = false;
  std::string old_;
};

class CudaUnitRecords : public ::testing::TestWithParam<DType> {};

// A fresh random plain matrix, its values, and its device copies in both layouts.
struct Weights {
  HostBuffer plain;
  std::vector<float> values;  // dequantized [out, in]
  std::unique_ptr<Buffer> dev_plain, dev_regrouped;
  Weights(DType type, int64_t out, int64_t in) : plain(type, {out, in}), values(size_t(out * in)) {
    for (int64_t r = 0; r < out; ++r) {
      const auto v = random_floats(size_t(in), -1.f, 1.f);
      quantize_row(type, v.data(), plain.tensor().row(r), in);
      dequantize_row(type, plain.tensor().row(r), values.data() + r * in, in);
    }
    dev_plain = cuda().upload(plain.tensor());
    dev_regrouped = cuda().upload_matmul_weight(plain.tensor());
  }
};

TEST_P(CudaUnitRecords, UploadRegroupsWhatItCanAsTheHostDoes) {
  const DType plain = GetParam();
  const Weights w(plain, 40, 1280);
  ASSERT_EQ(w.dev_regrouped->tensor().type, unit_records_type(plain));
  HostBuffer want(unit_records_type(plain), {40, 1280});
  regroup_unit_records(w.plain.tensor(), want.tensor());
  std::vector<uint8_t> got(row_bytes(plain, 1280) * 40);
  cuda().download(w.dev_regrouped->tensor(), got.data());
  cuda().synchronize();
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0);
  HostBuffer f16(DType::F16, {8, 256});
  EXPECT_EQ(cuda().upload_matmul_weight(f16.tensor())->tensor().type, DType::F16);
  if (plain == DType::Q4_0) {  // rows of a partial record stay q4_0
    HostBuffer odd(DType::Q4_0, {8, 288});
    EXPECT_EQ(cuda().upload_matmul_weight(odd.tensor())->tensor().type, DType::Q4_0);
  }
  ScopedEnv off("LLMR_CUDA_REGROUP", "0");
  EXPECT_EQ(cuda().upload_matmul_weight(w.plain.tensor())->tensor().type, plain);
}

// got (regrouped) against want (plain) and the exact product: y[t][o] = start[t][o] + x_t . w_o.
void expect_close(const std::vector<float>& got, const std::vector<float>& plain_got, const std::vector<float>& x,
                  const Weights& w, int64_t T, int64_t in, int64_t out, const std::vector<float>* start,
                  bool int8, const std::string& label) {
  SCOPED_TRACE(label);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t o = 0; o < out; ++o) {
      const testing::DotOracle d = testing::dot_oracle(x.data() + t * in, w.values.data() + o * in, in);
      const size_t i = size_t(t * out + o);
      const double s = start ? (*start)[i] : 0.0;
      const double order = 1e-5 * d.abs_sum + 1e-6 + 1e-6 * std::fabs(s);
      ASSERT_TRUE(std::fabs(double(got[i]) - plain_got[i]) <= order)
          << "y[" << t << "][" << o << "] = " << got[i] << ", plain layout " << plain_got[i] << " +- " << order;
      const double exact = int8 ? 1.01 * d.act_err + 4e-5 * d.abs_sum + 1e-5 : 1.5e-3 * d.abs_sum + 1e-5;
      ASSERT_TRUE(std::fabs(double(got[i]) - (s + d.value)) <= exact + 1e-6 * std::fabs(s))
          << "y[" << t << "][" << o << "] = " << got[i] << ", exact " << s + d.value << " +- " << exact;
    }
}

TEST_P(CudaUnitRecords, MatmulOnEveryPathEqualsThePlainLayout) {
  const DType plain = GetParam();
  int i = 0;
  // 4352: 17 records, a partial chunk of 32 units; 67 rows: a partial row group
  for (int64_t in : {int64_t(256), int64_t(4352)})
    for (int64_t T : {1, 2, 3, 5, 8, 9, 33, 100}) {
      const int64_t out = i++ % 2 ? 67 : 300;
      const Weights w(plain, out, in);
      ASSERT_EQ(w.dev_regrouped->tensor().type, unit_records_type(plain));
      const HostBuffer x = host_floats({T, in}, -2.f, 2.f), bias = host_floats({out}, -1.f, 1.f);
      const auto dx = cuda().upload(x.tensor()), db = cuda().upload(bias.tensor());
      const auto y0 = cuda().alloc(DType::F32, {T, out}), y1 = cuda().alloc(DType::F32, {T, out});
      const Tensor bt = db->tensor();
      const Tensor* b = T % 2 ? &bt : nullptr;
      cuda().matmul(dx->tensor(), w.dev_plain->tensor(), b, y0->tensor());
      cuda().matmul(dx->tensor(), w.dev_regrouped->tensor(), b, y1->tensor());
      std::vector<float> start(size_t(T * out), 0.f);
      if (b)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t o = 0; o < out; ++o) start[size_t(t * out + o)] = static_cast<const float*>(bias.data())[o];
      const std::vector<float> xv(static_cast<const float*>(x.data()), static_cast<const float*>(x.data()) + T * in);
      expect_close(download_floats(y1->tensor()), download_floats(y0->tensor()), xv, w, T, in, out, &start, T <= 8,
                   std::string(name(plain)) + " matmul T=" + std::to_string(T) + " in=" + std::to_string(in) +
                       " out=" + std::to_string(out));
      if (HasFatalFailure()) return;
    }
}

// The generation step's fused products (T = 1 and 2): their activations made by the kernel before.
TEST_P(CudaUnitRecords, FusedProductsEqualThePlainLayout) {
  const DType plain = GetParam();
  const int64_t in = 4352, out = 300;
  const Weights w(plain, out, in);
  for (int64_t T : {1, 2}) {
    const HostBuffer x = host_floats({T, in}, -2.f, 2.f), up = host_floats({T, in}, -2.f, 2.f),
                     norm = host_floats({in}, 0.5f, 1.5f), y_start = host_floats({T, out}, -5.f, 5.f);
    const auto dx = cuda().upload(x.tensor()), dup = cuda().upload(up.tensor()), dn = cuda().upload(norm.tensor());
    const auto h = cuda().alloc(DType::F32, {T, in});
    const std::vector<float> start(static_cast<const float*>(y_start.data()),
                                   static_cast<const float*>(y_start.data()) + T * out);
    // each op on both layouts; its input to the product as the host computes it, for the oracle
    struct Op {
      const char* name;
      bool accumulate;
      std::function<void(const Tensor& w, const Tensor& y)> run;
      std::function<float(int64_t t, int64_t k)> input;
    };
    const auto* xp = static_cast<const float*>(x.data());
    const auto* upp = static_cast<const float*>(up.data());
    const auto* np = static_cast<const float*>(norm.data());
    std::vector<float> inv_rms(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      double ss = 0;
      for (int64_t k = 0; k < in; ++k) ss += double(xp[t * in + k]) * xp[t * in + k];
      inv_rms[size_t(t)] = float(1.0 / std::sqrt(ss / double(in) + 1e-5));
    }
    const Op ops[] = {
        {"matmul_add", true, [&](const Tensor& wt, const Tensor& y) { cuda().matmul_add(dx->tensor(), wt, y); },
         [&](int64_t t, int64_t k) { return xp[t * in + k]; }},
        {"rms_norm_matmul", false,
         [&](const Tensor& wt, const Tensor& y) { cuda().rms_norm_matmul(dx->tensor(), dn->tensor(), 1e-5f, h->tensor(), wt, y); },
         [&](int64_t t, int64_t k) { return xp[t * in + k] * inv_rms[size_t(t)] * np[k]; }},
        {"swiglu_matmul_add", true,
         [&](const Tensor& wt, const Tensor& y) { cuda().swiglu_matmul_add(dx->tensor(), dup->tensor(), wt, y); },
         [&](int64_t t, int64_t k) {
           const float g = xp[t * in + k];
           return g / (1.f + std::exp(-g)) * upp[t * in + k];
         }},
    };
    for (const Op& op : ops) {
      const auto y0 = cuda().upload(y_start.tensor()), y1 = cuda().upload(y_start.tensor());
      op.run(w.dev_plain->tensor(), y0->tensor());
      op.run(w.dev_regrouped->tensor(), y1->tensor());
      std::vector<float> input(size_t(T * in));
      for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < in; ++k) input[size_t(t * in + k)] = op.input(t, k);
      expect_close(download_floats(y1->tensor()), download_floats(y0->tensor()), input, w, T, in, out,
                   op.accumulate ? &start : nullptr, true, std::string(name(plain)) + " " + op.name + " T=" + std::to_string(T));
      if (HasFatalFailure()) return;
    }
  }
}

// The norm handoff (backend/cuda/norm_handoff.h): matmul_add into x is held, then launched with the
// epilogue that makes the activations of the rms_norm_matmul of x after it. x must come out bit for bit
// as without the handoff (the same sums in the same order); y within the int8 oracle of W2 (x / rms * g),
// as the norm kernel's y is; and the handoff must happen wherever the producer's shape allows it. A
// held product must also run before an op that reads x otherwise, or a norm of other rows.
TEST_P(CudaUnitRecords, NormHandedOverByTheResidualProduct) {
  const DType plain = GetParam();
  const int64_t k1 = 512, m = 96;
  const float eps = 1e-5f;
  int handed_over = 0;
  // n = 4096: a k-split of 2 on the H200's 132 multiprocessors; 8192: 1 on any GPU of up to 256
  for (int64_t n : {int64_t(4096), int64_t(8192)})
    for (int64_t T : {1, 2}) {
      SCOPED_TRACE(std::string(name(plain)) + " n=" + std::to_string(n) + " T=" + std::to_string(T));
      const Weights w1(plain, n, k1), w2(plain, m, n);
      const HostBuffer a = host_floats({T, k1}, -2.f, 2.f), x0 = host_floats({T, n}, -3.f, 3.f),
                       g = host_floats({n}, 0.5f, 1.5f), x2 = host_floats({T, n}, -3.f, 3.f);
      const auto da = cuda().upload(a.tensor()), dg = cuda().upload(g.tensor());
      struct Out {
        std::vector<float> x, y, plain_norm, other_x, other_y;
      };
      auto run = [&](bool handoff) {
        ScopedEnv env("LLMR_CUDA_NORM_HANDOFF", handoff ? "1" : "0");
        Out o;
        const auto dx = cuda().upload(x0.tensor()), h = cuda().alloc(DType::F32, {T, n});
        const auto y = cuda().alloc(DType::F32, {T, m});
        cuda().matmul_add(da->tensor(), w1.dev_regrouped->tensor(), dx->tensor());
        cuda().rms_norm_matmul(dx->tensor(), dg->tensor(), eps, h->tensor(), w2.dev_regrouped->tensor(), y->tensor());
        o.x = download_floats(dx->tensor()), o.y = download_floats(y->tensor());
        // held, then a plain norm of x: it must read the product's x
        const auto dx1 = cuda().upload(x0.tensor());
        cuda().matmul_add(da->tensor(), w1.dev_regrouped->tensor(), dx1->tensor());
        cuda().rms_norm(dx1->tensor(), dg->tensor(), eps, h->tensor());
        o.plain_norm = download_floats(h->tensor());
        // held, then a norm product of other rows: x still gets its product, y is the other rows'
        const auto dx2 = cuda().upload(x0.tensor()), dother = cuda().upload(x2.tensor());
        cuda().matmul_add(da->tensor(), w1.dev_regrouped->tensor(), dx2->tensor());
        cuda().rms_norm_matmul(dother->tensor(), dg->tensor(), eps, h->tensor(), w2.dev_regrouped->tensor(),
                               y->tensor());
        o.other_x = download_floats(dx2->tensor()), o.other_y = download_floats(y->tensor());
        return o;
      };
      const Out off = run(false);
      const uint64_t before = cuda_ops::norm_handoffs();
      const Out on = run(true);
      const cuda_ops::XregShape shape = cuda_ops::xreg_shape(w1.dev_regrouped->tensor().type, n, int(k1 / 32), int(T));
      const bool applies = cuda_ops::xreg_norm_out_applies(w1.dev_regrouped->tensor().type, shape, n);
      EXPECT_EQ(cuda_ops::norm_handoffs() - before, applies ? 1u : 0u) << "k-split " << shape.k_split;
      handed_over += applies;
      EXPECT_EQ(on.x, off.x);
      EXPECT_EQ(on.plain_norm, off.plain_norm);
      EXPECT_EQ(on.other_x, off.other_x);
      EXPECT_EQ(on.other_y, off.other_y);
      // y against the exact product of W2 with the norm of the x it was given
      const auto* gp = static_cast<const float*>(g.data());
      for (int64_t t = 0; t < T; ++t) {
        double ss = 0;
        for (int64_t k = 0; k < n; ++k) ss += double(on.x[size_t(t * n + k)]) * on.x[size_t(t * n + k)];
        const double inv = 1.0 / std::sqrt(ss / double(n) + eps);
        std::vector<float> normed(static_cast<size_t>(n));
        for (int64_t k = 0; k < n; ++k) normed[size_t(k)] = float(on.x[size_t(t * n + k)] * inv * gp[k]);
        for (int64_t o = 0; o < m; ++o) {
          const testing::DotOracle d = testing::dot_oracle(normed.data(), w2.values.data() + o * n, n);
          const double tol = 1.01 * d.act_err + 4e-5 * d.abs_sum + 1e-5;
          const size_t i = size_t(t * m + o);
          ASSERT_LE(std::fabs(double(on.y[i]) - d.value), tol) << "y[" << t << "][" << o << "] handed over";
          ASSERT_LE(std::fabs(double(off.y[i]) - d.value), tol) << "y[" << t << "][" << o << "] norm kernel";
        }
      }
      if (HasFailure()) return;
    }
  EXPECT_GE(handed_over, 2) << "n = 8192 takes a k-split of 1 on any GPU of up to 256 multiprocessors";
}

// The same handoff between plain-weight (f16) products: the producer writes x * g as floats and adds
// the squares of its rows into one sum a token, in the slot the producer before it zeroed; the consumer
// scales its sums by 1/rms from that sum. Three rounds of matmul_add + rms_norm_matmul run directly,
// then the round recorded once and replayed three times (one producer a recording: each replay must
// find its sum slot cleared), then a direct round again; at T = 2, then 1, then 2 again. Each round: x bit for bit as without the
// handoff (the same sums in the same order), y within f32 rounding of the exact product of the
// normalized x, and one handoff.
TEST(CudaPlainProducts, NormHandedOverByTheResidualProduct) {
  const int64_t n = 4096, k1 = 512, m = 96;
  const float eps = 1e-5f;
  const Weights w1(DType::F16, n, k1), w2(DType::F16, m, n);
  for (int64_t T : {2, 1, 2}) {  // 1 between two 2s: a one-token producer still clears both tokens' sums
    SCOPED_TRACE("T=" + std::to_string(T));
    const HostBuffer a = host_floats({T, k1}, -2.f, 2.f), x0 = host_floats({T, n}, -3.f, 3.f),
                     g = host_floats({n}, 0.5f, 1.5f);
    const auto da = cuda().upload(a.tensor()), dg = cuda().upload(g.tensor());
    struct Round {
      std::vector<float> x, y;
      uint64_t handoffs = 0;
    };
    auto run = [&](bool handoff) {
      ScopedEnv env("LLMR_CUDA_NORM_HANDOFF", handoff ? "1" : "0");
      const auto dx = cuda().upload(x0.tensor()), h = cuda().alloc(DType::F32, {T, n});
      const auto dy = cuda().alloc(DType::F32, {T, m});
      auto round = [&] {
        cuda().matmul_add(da->tensor(), w1.dev_plain->tensor(), dx->tensor());
        cuda().rms_norm_matmul(dx->tensor(), dg->tensor(), eps, h->tensor(), w2.dev_plain->tensor(), dy->tensor());
      };
      std::vector<Round> rounds;
      auto record = [&](const std::function<void()>& step) {
        const uint64_t before = cuda_ops::norm_handoffs();
        step();
        Round r{download_floats(dx->tensor()), download_floats(dy->tensor()), 0};
        r.handoffs = cuda_ops::norm_handoffs() - before;
        rounds.push_back(std::move(r));
      };
      for (int i = 0; i < 3; ++i) record(round);
      const uint64_t before_capture = cuda_ops::norm_handoffs();
      EXPECT_TRUE(cuda().begin_capture());
      round();
      const std::unique_ptr<Replay> replay = cuda().end_capture();
      const uint64_t recorded = cuda_ops::norm_handoffs() - before_capture;
      for (int i = 0; i < 3; ++i) record([&] { replay->replay(); });
      for (Round& r : std::span(rounds).subspan(3)) r.handoffs = recorded;  // made once, as recorded
      record(round);
      return rounds;
    };
    const std::vector<Round> off = run(false), on = run(true);
    ASSERT_EQ(on.size(), off.size());
    const auto* gp = static_cast<const float*>(g.data());
    for (size_t r = 0; r < on.size(); ++r) {
      SCOPED_TRACE("round " + std::to_string(r) + (r >= 3 && r < 6 ? " (replayed)" : ""));
      EXPECT_EQ(on[r].handoffs, 1u);
      EXPECT_EQ(off[r].handoffs, 0u);
      EXPECT_EQ(on[r].x, off[r].x);
      for (int64_t t = 0; t < T; ++t) {
        const float* x = on[r].x.data() + t * n;
        double ss = 0;
        for (int64_t k = 0; k < n; ++k) ss += double(x[k]) * x[k];
        const double inv = 1.0 / std::sqrt(ss / double(n) + eps);
        std::vector<float> normed(static_cast<size_t>(n));
        for (int64_t k = 0; k < n; ++k) normed[size_t(k)] = float(x[k] * inv * gp[k]);
        for (int64_t o = 0; o < m; ++o) {
          const testing::DotOracle d = testing::dot_oracle(normed.data(), w2.values.data() + o * n, n);
          const double tol = 2e-5 * d.abs_sum + 1e-5;  // f32 sums of 4096 products, 1/rms in f32
          const size_t i = size_t(t * m + o);
          ASSERT_LE(std::fabs(double(on[r].y[i]) - d.value), tol) << "y[" << t << "][" << o << "] handed over";
          ASSERT_LE(std::fabs(double(off[r].y[i]) - d.value), tol) << "y[" << t << "][" << o << "] norm kernel";
        }
      }
    }
  }
}

// The SwiGLU epilogue (on by default; LLMR_CUDA_PLAIN_SWIGLU=0 turns it off): the gate|up product that
// takes a handed-over norm is held, and the swiglu_matmul_add of its two halves launches it with the
// SwiGLU epilogue (warps 2i, 2i + 1 take gate row j and up row j; silu_mul as the swiglu op computes
// it). x after the feed-forward block must come out bit for bit as with the gate|up output written and
// the swiglu kernel after it, at T = 2, 1, 2; one epilogue a feed-forward block with the switch, none
// without.
TEST(CudaPlainProducts, SwigluInTheGateUpEpilogue) {
  const int64_t n = 2048, k1 = 512, half = 1032;  // 1032 pairs: 258 blocks of four
  const float eps = 1e-5f;
  const Weights w1(DType::F16, n, k1), w_gate_up(DType::F16, 2 * half, n), w_down(DType::F16, n, half);
  ScopedEnv handoff("LLMR_CUDA_NORM_HANDOFF", "1");
  for (int64_t T : {2, 1, 2}) {
    SCOPED_TRACE("T=" + std::to_string(T));
    const HostBuffer a = host_floats({T, k1}, -2.f, 2.f), x0 = host_floats({T, n}, -3.f, 3.f),
                     g = host_floats({n}, 0.5f, 1.5f);
    const auto da = cuda().upload(a.tensor()), dg = cuda().upload(g.tensor());
    auto run = [&](bool fused, uint64_t& epilogues) {
      ScopedEnv env("LLMR_CUDA_PLAIN_SWIGLU", fused ? "1" : "0");
      const auto dx = cuda().upload(x0.tensor()), h = cuda().alloc(DType::F32, {T, n});
      const auto gu = cuda().alloc(DType::F32, {T, 2 * half});
      const uint64_t before = cuda_ops::swiglu_epilogues();
      cuda().matmul_add(da->tensor(), w1.dev_plain->tensor(), dx->tensor());
      cuda().rms_norm_matmul(dx->tensor(), dg->tensor(), eps, h->tensor(), w_gate_up.dev_plain->tensor(),
                             gu->tensor());
      cuda().swiglu_matmul_add(gu->tensor().slice_cols(0, half), gu->tensor().slice_cols(half, half),
                               w_down.dev_plain->tensor(), dx->tensor());
      std::vector<float> x = download_floats(dx->tensor());
      epilogues = cuda_ops::swiglu_epilogues() - before;
      return x;
    };
    uint64_t fused_count = 0, plain_count = 0;
    const std::vector<float> fused = run(true, fused_count), unfused = run(false, plain_count);
    EXPECT_EQ(fused_count, 1u);
    EXPECT_EQ(plain_count, 0u);
    ASSERT_EQ(fused.size(), unfused.size());
    EXPECT_EQ(fused, unfused);
    double moved = 0;  // the block changed x: the comparison is not of two untouched copies
    const auto* x0p = static_cast<const float*>(x0.data());
    for (size_t i = 0; i < fused.size(); ++i) moved = std::max(moved, std::fabs(double(fused[i]) - x0p[i]));
    EXPECT_GT(moved, 1e-3);
  }
}

// One token's products of more rows than two waves of four-load blocks stream their rows through one
// wave of warps (gemv_plain_stream.cuh; LLMR_CUDA_PLAIN_STREAM=0 turns it off), each lane taking its
// vectors in the many-wave kernel's order: the same bits, with two and four passes a row (eight and
// four loads a lane), with the last, partial round of items spread over the blocks or not
// (LLMR_CUDA_PLAIN_STREAM_SPREAD). A gate|up product with its SwiGLU epilogue and handed-over norm (x
// after the feed-forward block), and an output head of a partial last block of rows (within f32
// rounding of the exact product too, so the two paths are not equally wrong).
TEST(CudaPlainProducts, StreamedRowsEqualTheManyWaveKernel) {
  const int64_t n = 4096, k1 = 512, half = 7000, vocab = 13001;  // 14000 and 13001 rows > 12672
  const float eps = 1e-5f;
  const Weights w1(DType::F16, n, k1), w_gate_up(DType::F16, 2 * half, n), w_down(DType::F16, n, half),
      w_out(DType::F16, vocab, n);
  ScopedEnv handoff("LLMR_CUDA_NORM_HANDOFF", "1");
  const HostBuffer a = host_floats({1, k1}, -2.f, 2.f), g = host_floats({n}, 0.5f, 1.5f);
  const HostBuffer x0 = host_floats({1, n}, -3.f, 3.f), x1 = host_floats({1, n}, -3.f, 3.f);
  const auto da = cuda().upload(a.tensor()), dg = cuda().upload(g.tensor());
  struct Run {
    std::vector<float> x, logits;
    uint64_t streams = 0;
  };
  auto run = [&](const char* stream, const char* vecs, const char* spread, const char* claims, const HostBuffer& x) {
    ScopedEnv on("LLMR_CUDA_PLAIN_STREAM", stream), loads("LLMR_CUDA_PLAIN_STREAM_VECS", vecs),
        last_round("LLMR_CUDA_PLAIN_STREAM_SPREAD", spread), claimed("LLMR_CUDA_PLAIN_STREAM_CLAIMS", claims);
    const auto dx = cuda().upload(x.tensor()), h = cuda().alloc(DType::F32, {1, n});
    const auto gu = cuda().alloc(DType::F32, {1, 2 * half}), logits = cuda().alloc(DType::F32, {1, vocab});
    const uint64_t before = cuda_ops::plain_streams();
    cuda().matmul_add(da->tensor(), w1.dev_plain->tensor(), dx->tensor());
    cuda().rms_norm_matmul(dx->tensor(), dg->tensor(), eps, h->tensor(), w_gate_up.dev_plain->tensor(), gu->tensor());
    cuda().swiglu_matmul_add(gu->tensor().slice_cols(0, half), gu->tensor().slice_cols(half, half),
                             w_down.dev_plain->tensor(), dx->tensor());
    cuda().rms_norm_matmul(dx->tensor(), dg->tensor(), eps, h->tensor(), w_out.dev_plain->tensor(), logits->tensor());
    Run r{download_floats(dx->tensor()), download_floats(logits->tensor()), 0};
    r.streams = cuda_ops::plain_streams() - before;
    return r;
  };
  const Run many_wave = run("0", "8", "1", "1", x1);
  EXPECT_EQ(many_wave.streams, 0u);
  for (const char* vecs : {"8", "4"})
    for (const char* spread : {"1", "0"})
      for (const char* claims : {"1", "0"}) {
        SCOPED_TRACE(std::string("loads a lane a pass: ") + vecs + ", last round spread: " + spread +
                     ", last rounds claimed: " + claims);
        // Twice, on other inputs first: a launch whose claim counters were not set back would skip
        // items and leave the first run's values in their rows.
        run("1", vecs, spread, claims, x0);
        const Run streamed = run("1", vecs, spread, claims, x1);
        EXPECT_EQ(streamed.streams, 2u);  // gate|up and the output head
        EXPECT_EQ(streamed.x, many_wave.x);
        EXPECT_EQ(streamed.logits, many_wave.logits);
      }
  // The output head against the exact product of the normalized x.
  const float* x = many_wave.x.data();
  double ss = 0;
  for (int64_t k = 0; k < n; ++k) ss += double(x[k]) * x[k];
  const double inv = 1.0 / std::sqrt(ss / double(n) + eps);
  std::vector<float> normed(static_cast<size_t>(n));
  const auto* gp = static_cast<const float*>(g.data());
  for (int64_t k = 0; k < n; ++k) normed[size_t(k)] = float(x[k] * inv * gp[k]);
  for (int64_t o = 0; o < vocab; ++o) {
    const testing::DotOracle d = testing::dot_oracle(normed.data(), w_out.values.data() + o * n, n);
    ASSERT_LE(std::fabs(double(many_wave.logits[size_t(o)]) - d.value), 2e-5 * d.abs_sum + 1e-5) << "row " << o;
  }
}

// A gate|up product held for its SwiGLU epilogue writes no norm sums: a norm product of its own output
// (here with integer weights, whose handoff would take a held residual product as its producer) must
// find it launched as it is and normalize by itself, as with the epilogue switched off.
TEST(CudaPlainProducts, GateUpHeldForItsEpilogueIsNoResidualProduct) {
  const int64_t n = 2048, k1 = 512, half = 1024, m = 96;
  const float eps = 1e-5f;
  const Weights w1(DType::F16, n, k1), w_gate_up(DType::F16, 2 * half, n), w2(DType::Q4_0, m, 2 * half);
  ScopedEnv handoff("LLMR_CUDA_NORM_HANDOFF", "1");
  for (int64_t T : {1, 2}) {
    SCOPED_TRACE("T=" + std::to_string(T));
    const HostBuffer a = host_floats({T, k1}, -2.f, 2.f), x0 = host_floats({T, n}, -3.f, 3.f),
                     g = host_floats({n}, 0.5f, 1.5f), g2 = host_floats({2 * half}, 0.5f, 1.5f);
    const auto da = cuda().upload(a.tensor()), dg = cuda().upload(g.tensor()), dg2 = cuda().upload(g2.tensor());
    auto run = [&](bool epilogue) {
      ScopedEnv env("LLMR_CUDA_PLAIN_SWIGLU", epilogue ? "1" : "0");
      const auto dx = cuda().upload(x0.tensor()), h = cuda().alloc(DType::F32, {T, n});
      const auto gu = cuda().alloc(DType::F32, {T, 2 * half}), h2 = cuda().alloc(DType::F32, {T, 2 * half});
      const auto y = cuda().alloc(DType::F32, {T, m});
      cuda().matmul_add(da->tensor(), w1.dev_plain->tensor(), dx->tensor());
      cuda().rms_norm_matmul(dx->tensor(), dg->tensor(), eps, h->tensor(), w_gate_up.dev_plain->tensor(),
                             gu->tensor());
      cuda().rms_norm_matmul(gu->tensor(), dg2->tensor(), eps, h2->tensor(), w2.dev_regrouped->tensor(),
                             y->tensor());
      return download_floats(y->tensor());
    };
    const uint64_t handoffs = cuda_ops::norm_handoffs();
    const std::vector<float> held = run(true), unheld = run(false);
    EXPECT_EQ(cuda_ops::norm_handoffs() - handoffs, 2u);  // one a run: the residual product into gate|up
    EXPECT_EQ(held, unheld);
    EXPECT_GT(*std::max_element(held.begin(), held.end()), 1e-3f);  // y was written
  }
}

// The integer SwiGLU-quantize epilogue (q4_0c, one token; LLMR_CUDA_XREG_SWIGLU=0 turns it off): the
// regrouped gate|up product that takes a handed-over norm is held, and the swiglu_matmul_add of its
// halves launches it writing the down product's XBlocks itself (block b: gate and up rows 32b .. 32b +
// 31). x after the feed-forward block must come out bit for bit as with the gate|up output written and
// quantize_swiglu after it, at T = 2, 1, 2 and in a replayed graph; one epilogue a block with the
// switch where it applies (q4_0c, T = 1), none elsewhere or without. Rows of 72 units: a partial last
// chunk.
TEST_P(CudaUnitRecords, SwigluQuantizeInTheGateUpEpilogue) {
  const int64_t n = 2304, k1 = 512, half = 1280;  // 40 blocks of 32 pairs
  const float eps = 1e-5f;
  const DType type = GetParam();
  const Weights w1(type, n, k1), w_gate_up(type, 2 * half, n), w_down(type, n, half);
  ASSERT_EQ(w_gate_up.dev_regrouped->tensor().type, unit_records_type(type));
  ScopedEnv handoff("LLMR_CUDA_NORM_HANDOFF", "1");
  // The unfused gate|up product without a k-split (as Llama-3-8B's 28,672 rows take it): the same sums.
  ScopedEnv warps("LLMR_CUDA_XREG_WARPS", "4");
  for (int64_t T : {2, 1, 2}) {
    SCOPED_TRACE("T=" + std::to_string(T));
    const HostBuffer a = host_floats({T, k1}, -2.f, 2.f), x0 = host_floats({T, n}, -3.f, 3.f),
                     g = host_floats({n}, 0.5f, 1.5f);
    const auto da = cuda().upload(a.tensor()), dg = cuda().upload(g.tensor());
    // x after one block run directly, then after three replays of it recorded
    auto run = [&](const char* fused, uint64_t& epilogues) {
      ScopedEnv env("LLMR_CUDA_XREG_SWIGLU", fused);
      const auto dx = cuda().upload(x0.tensor()), h = cuda().alloc(DType::F32, {T, n});
      const auto gu = cuda().alloc(DType::F32, {T, 2 * half});
      auto block = [&] {
        cuda().matmul_add(da->tensor(), w1.dev_regrouped->tensor(), dx->tensor());
        cuda().rms_norm_matmul(dx->tensor(), dg->tensor(), eps, h->tensor(), w_gate_up.dev_regrouped->tensor(),
                               gu->tensor());
        cuda().swiglu_matmul_add(gu->tensor().slice_cols(0, half), gu->tensor().slice_cols(half, half),
                                 w_down.dev_regrouped->tensor(), dx->tensor());
      };
      const uint64_t before = cuda_ops::swiglu_epilogues();
      block();
      std::vector<float> x = download_floats(dx->tensor());
      epilogues = cuda_ops::swiglu_epilogues() - before;
      EXPECT_TRUE(cuda().begin_capture());
      block();
      const std::unique_ptr<Replay> replay = cuda().end_capture();
      for (int i = 0; i < 3; ++i) replay->replay();
      const std::vector<float> replayed = download_floats(dx->tensor());
      x.insert(x.end(), replayed.begin(), replayed.end());
      return x;
    };
    uint64_t unfused_count = 0;
    const std::vector<float> unfused = run("0", unfused_count);
    EXPECT_EQ(unfused_count, 0u);
    double moved = 0;  // the block changed x: the comparison is not of two untouched copies
    const auto* x0p = static_cast<const float*>(x0.data());
    for (size_t i = 0; i < size_t(T * n); ++i) moved = std::max(moved, std::fabs(double(unfused[i]) - x0p[i]));
    EXPECT_GT(moved, 1e-3);
    uint64_t fused_count = 0;
    const std::vector<float> fused = run("1", fused_count);
    EXPECT_EQ(fused_count, type == DType::Q4_0 && T == 1 ? 1u : 0u);  // q4_0c's single token only
    EXPECT_EQ(fused, unfused);
  }
}

// A one-token product written straight into pinned host memory (CudaBackend::written_from_device, as
// the decode step's output head writes its logits), whose blocks store their rows as one line each:
// every row, the partial last block's too, as the same product written to device memory, bit for bit.
TEST_P(CudaUnitRecords, ProductWrittenToHostMemoryEqualsTheDeviceOne) {
  const int64_t out = 20005, in = 4096;  // many blocks of 16 rows, the last one partial
  const Weights w(GetParam(), out, in);
  const HostBuffer x = host_floats({1, in}, -1.f, 1.f);
  const auto dx = cuda().upload(x.tensor()), dy = cuda().alloc(DType::F32, {1, out});
  cuda().matmul(dx->tensor(), w.dev_regrouped->tensor(), nullptr, dy->tensor());
  const std::vector<float> on_device = download_floats(dy->tensor());
  const std::unique_ptr<Buffer> pinned = cuda().alloc_host_input(DType::F32, {1, out});
  auto* host = static_cast<float*>(pinned->tensor().data);
  std::fill(host, host + out, std::nanf(""));  // a row left unwritten stays NaN
  const Tensor view = cuda().written_from_device(pinned->tensor());
  ASSERT_NE(view.data, nullptr);
  cuda().matmul(dx->tensor(), w.dev_regrouped->tensor(), nullptr, view);
  cuda().synchronize();
  for (int64_t r = 0; r < out; ++r)
    ASSERT_EQ(std::memcmp(host + r, &on_device[size_t(r)], 4), 0)
        << "row " << r << ": " << host[r] << " vs " << on_device[size_t(r)];
  {
    ScopedEnv off("LLMR_CUDA_LOGITS_TO_HOST", "0");
    EXPECT_EQ(cuda().written_from_device(pinned->tensor()).data, nullptr);
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaUnitRecords, ::testing::Values(DType::Q4_0, DType::Q4_K),
                         [](const ::testing::TestParamInfo<DType>& p) { return std::string(name(p.param)); });

}  // namespace
}  // namespace llmr
