// The matmul battery: every backend (and every CPU SIMD level, called directly) against a double
// oracle written here, for every weight type and shapes T x in x out, with and without bias.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/matmul_kernels.h"
#include "ops/backends_under_test.h"
#include "ops/op_battery.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

using testing::random_floats;

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                              DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Backends of backends_under_test.h plus the CPU kernels pinned at each level this machine runs.
std::vector<std::string> impl_names() {
  std::vector<std::string> names = testing::backend_names();
  names.push_back("cpu-scalar");
  if (cpu::cpu_features().avx2) names.push_back("cpu-avx2");
  if (cpu::cpu_features().avx512_vnni) names.push_back("cpu-avx512");
  return names;
}

void run_matmul(const std::string& impl, const Tensor& x, const Tensor& w, const Tensor* bias,
                const Tensor& y) {
  static cpu::ThreadPool pool(2);
  if (impl == "cpu-scalar") return cpu::matmul_at_level(cpu::Level::Scalar, x, w, bias, y, &pool);
  if (impl == "cpu-avx2") return cpu::matmul_at_level(cpu::Level::Avx2, x, w, bias, y, &pool);
  if (impl == "cpu-avx512") return cpu::matmul_at_level(cpu::Level::Avx512, x, w, bias, y, &pool);
  testing::backend_named(impl).matmul(x, w, bias, y);
}

bool quantizes_activations(const std::string& impl, DType type) {
  return impl != "reference" && cpu::uses_int8_activations(type);
}

struct Weights {
  HostBuffer q;                 // the weight matrix as stored
  std::vector<float> values;    // its dequantized values, row-major [out, in]
};

Weights random_weights(DType type, int64_t out, int64_t in) {
  Weights w{HostBuffer(type, {out, in}), std::vector<float>(size_t(out * in))};
  for (int64_t r = 0; r < out; ++r) {
    auto v = random_floats(size_t(in), -1.f, 1.f);
    quantize_row(type, v.data(), w.q.tensor().row(r), in);
    dequantize_row(type, w.q.tensor().row(r), w.values.data() + r * in, in);
  }
  return w;
}

void check_case(const std::string& impl, DType type, int64_t T, int64_t in, int64_t out, bool with_bias) {
  SCOPED_TRACE(impl + " " + name(type) + " T=" + std::to_string(T) + " in=" + std::to_string(in) +
               " out=" + std::to_string(out) + (with_bias ? " +bias" : ""));
  Weights w = random_weights(type, out, in);
  HostBuffer x(DType::F32, {T, in}), y(DType::F32, {T, out}), bias(DType::F32, {out});
  auto xv = random_floats(size_t(T * in), -2.f, 2.f);
  testing::fill(x.tensor(), [&](int64_t i) { return xv[size_t(i)]; });
  auto bv = random_floats(size_t(out));
  testing::fill(bias.tensor(), [&](int64_t i) { return bv[size_t(i)]; });
  testing::fill(y.tensor(), [](int64_t) { return std::nanf(""); });
  Tensor bt = bias.tensor();
  run_matmul(impl, x.tensor(), w.q.tensor(), with_bias ? &bt : nullptr, y.tensor());

  const bool int8 = quantizes_activations(impl, type);
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = xv.data() + t * in;
    for (int64_t o = 0; o < out; ++o) {
      const float* wr = w.values.data() + o * in;
      const testing::DotOracle d = testing::dot_oracle(xr, wr, in);
      const double want = (with_bias ? bv[size_t(o)] : 0.0) + d.value, abs_sum = d.abs_sum, act_err = d.act_err;
      // The oracle: sum in double, cast once. The reference does the same (slack: the final cast
      // and float bias). The float kernels sum in f32 lanes: relative error grows ~ n * 2^-24 in
      // the worst case, well under 4e-5 of sum |x||w| for n <= 4096. Kernels with 8-bit
      // activations see x rounded to d * q with d = amax / 127 per 32 elements, so each x_k moves
      // by at most amax_block / 254: the result moves by at most sum_blocks amax/254 * sum |w_k|
      // (act_err), on top of the f32 summation slack.
      double tol = impl == "reference" ? 1e-6 * abs_sum + 1e-6 : 4e-5 * abs_sum + 1e-5;
      if (int8) tol += 1.01 * act_err;
      const float got = y.tensor().row<float>(t)[o];
      ASSERT_TRUE(std::fabs(got - want) <= tol)
          << "y[" << t << "][" << o << "] = " << got << ", want " << want << " +- " << tol
          << " (sum |x||w| = " << abs_sum << ")";
    }
  }
}

class MatmulBattery : public ::testing::TestWithParam<std::tuple<std::string, DType>> {};

TEST_P(MatmulBattery, MatchesOracleOverShapes) {
  const auto [impl, type] = GetParam();
  const int64_t block = info(type).block_elems;
  std::vector<int64_t> ins = {32, 96, 256, 512, 4096};
  std::erase_if(ins, [&](int64_t n) { return n % std::max<int64_t>(block, 1) != 0; });
  const int64_t outs[] = {1, 3, 67, 256};
  int i = 0;
  for (int64_t T : {1, 2, 3, 5, 64})
    for (int64_t in : ins) {
      int64_t out = outs[i % 4];
      if (T * in * out > 4'000'000) out = 67;  // keeps the double oracle quick
      check_case(impl, type, T, in, out, i % 2 == 0);
      ++i;
      if (HasFatalFailure()) return;
    }
  // every out size with the largest T and a small row, bias and not
  for (int64_t out : outs) check_case(impl, type, 64, ins[0], out, out % 2 == 1);
}

INSTANTIATE_TEST_SUITE_P(AllImpls, MatmulBattery,
                         ::testing::Combine(::testing::ValuesIn(impl_names()), ::testing::ValuesIn(kWeightTypes)),
                         [](const auto& p) {
                           std::string s = std::get<0>(p.param) + "_" + name(std::get<1>(p.param));
                           for (auto& c : s) if (c == '-') c = '_';
                           return s;
                         });

// matmul_add (y += x w^T) on every backend: the backend's own matmul of the same x and w, added to
// the y it started from. The product's error is matmul's (checked above); the add may round once
// more, and a fused kernel may add in another order: 1e-5 of |y0| + |product| covers both.
class MatmulAddBattery : public ::testing::TestWithParam<std::tuple<std::string, DType>> {};

TEST_P(MatmulAddBattery, AddsTheProductIntoY) {
  const auto [impl, type] = GetParam();
  Backend& be = testing::backend_named(impl);
  const int64_t in = info(type).block_elems > 32 ? 512 : 4096;
  for (int64_t T : {1, 2, 3, 9})
    for (int64_t out : {1, 67, 256}) {
      SCOPED_TRACE(impl + " " + name(type) + " T=" + std::to_string(T) + " out=" + std::to_string(out));
      Weights w = random_weights(type, out, in);
      HostBuffer x(DType::F32, {T, in}), y(DType::F32, {T, out}), product(DType::F32, {T, out});
      auto xv = random_floats(size_t(T * in), -2.f, 2.f), yv = random_floats(size_t(T * out), -5.f, 5.f);
      testing::fill(x.tensor(), [&](int64_t i) { return xv[size_t(i)]; });
      testing::fill(y.tensor(), [&](int64_t i) { return yv[size_t(i)]; });
      be.matmul(x.tensor(), w.q.tensor(), nullptr, product.tensor());
      be.matmul_add(x.tensor(), w.q.tensor(), y.tensor());
      for (int64_t t = 0; t < T; ++t)
        for (int64_t o = 0; o < out; ++o) {
          const float p = product.tensor().row<float>(t)[o], y0 = yv[size_t(t * out + o)];
          const float got = y.tensor().row<float>(t)[o];
          ASSERT_NEAR(got, y0 + p, 1e-5 * (std::fabs(y0) + std::fabs(p)) + 1e-6) << "y[" << t << "][" << o << "]";
        }
      // swiglu_matmul_add: gate and up as column ranges of one [T, 2 in] buffer (as the stacked gate|up
      // product leaves them), against the backend's own swiglu, then matmul, then the add
      HostBuffer gate_up(DType::F32, {T, 2 * in}), act(DType::F32, {T, in});
      auto gv = random_floats(size_t(T * 2 * in), -4.f, 4.f);
      testing::fill(gate_up.tensor(), [&](int64_t i) { return gv[size_t(i)]; });
      auto column_view = [&](int64_t begin) {
        Tensor v = Tensor::view(static_cast<float*>(gate_up.data()) + begin, DType::F32, {T, in}, Device::Host);
        v.stride[0] = gate_up.tensor().row_stride();
        return v;
      };
      const Tensor gate = column_view(0), up = column_view(in);
      be.swiglu(gate, up, act.tensor());
      be.matmul(act.tensor(), w.q.tensor(), nullptr, product.tensor());
      testing::fill(y.tensor(), [&](int64_t i) { return yv[size_t(i)]; });
      be.swiglu_matmul_add(gate, up, w.q.tensor(), y.tensor());
      for (int64_t t = 0; t < T; ++t)
        for (int64_t o = 0; o < out; ++o) {
          const float p = product.tensor().row<float>(t)[o], y0 = yv[size_t(t * out + o)];
          const float got = y.tensor().row<float>(t)[o];
          ASSERT_NEAR(got, y0 + p, 1e-5 * (std::fabs(y0) + std::fabs(p)) + 1e-6)
              << "swiglu_matmul_add y[" << t << "][" << o << "]";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, MatmulAddBattery,
                         ::testing::Combine(::testing::ValuesIn(testing::backend_names()),
                                            ::testing::Values(DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K,
                                                              DType::Q6_K)),
                         [](const auto& p) { return std::get<0>(p.param) + "_" + name(std::get<1>(p.param)); });

// rms_norm_matmul against the same backend's rms_norm, then matmul (CUDA fuses the two for T <= 2,
// the norm quantized straight into the GEMV's activations; T = 3 takes the unfused path).
class RmsNormMatmulBattery : public ::testing::TestWithParam<std::tuple<std::string, DType>> {};

TEST_P(RmsNormMatmulBattery, MatchesNormThenMatmul) {
  const auto [impl, type] = GetParam();
  Backend& be = testing::backend_named(impl);
  for (int64_t in : {256, 4096})
    for (int64_t T : {1, 2, 3})
      for (int64_t out : {1, 67, 256}) {
        if (info(type).block_elems > in) continue;
        SCOPED_TRACE(impl + " " + name(type) + " in=" + std::to_string(in) + " T=" + std::to_string(T) +
                     " out=" + std::to_string(out));
        Weights w = random_weights(type, out, in);
        HostBuffer x(DType::F32, {T, in}), norm_w(DType::F32, {in}), h(DType::F32, {T, in}),
            expected(DType::F32, {T, out}), y(DType::F32, {T, out});
        // rows of different scales, so the norm matters
        auto xv = random_floats(size_t(T * in), -3.f, 3.f), nv = random_floats(size_t(in), 0.5f, 1.5f);
        testing::fill(x.tensor(), [&](int64_t i) { return xv[size_t(i)] * float(1 + i / in); });
        testing::fill(norm_w.tensor(), [&](int64_t i) { return nv[size_t(i)]; });
        be.rms_norm(x.tensor(), norm_w.tensor(), 1e-5f, h.tensor());
        be.matmul(h.tensor(), w.q.tensor(), nullptr, expected.tensor());
        testing::fill(y.tensor(), [](int64_t) { return std::nanf(""); });
        be.rms_norm_matmul(x.tensor(), norm_w.tensor(), 1e-5f, h.tensor(), w.q.tensor(), y.tensor());
        for (int64_t t = 0; t < T; ++t)
          for (int64_t o = 0; o < out; ++o) {
            const float e = expected.tensor().row<float>(t)[o], got = y.tensor().row<float>(t)[o];
            ASSERT_NEAR(got, e, 1e-5 * std::fabs(e) + 1e-6) << "y[" << t << "][" << o << "]";
          }
      }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, RmsNormMatmulBattery,
                         ::testing::Combine(::testing::ValuesIn(testing::backend_names()),
                                            ::testing::Values(DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K,
                                                              DType::Q6_K)),
                         [](const auto& p) { return std::get<0>(p.param) + "_" + name(std::get<1>(p.param)); });

// rms_norm_matmul_rope_store_kv against the same backend's rms_norm_matmul, then rope_store_kv on the
// product's q, k and v columns (CUDA folds the rope and the cache write into the GEMV's epilogue for
// T <= 2, the interleaved layout and f16 / f32 caches; T = 3, NeoX and q8_0 caches take the two ops).
// Cache rows no position names must keep their values.
class RmsNormMatmulRopeBattery : public ::testing::TestWithParam<std::tuple<std::string, DType>> {};

TEST_P(RmsNormMatmulRopeBattery, MatchesNormMatmulThenRopeStoreKv) {
  const auto [impl, type] = GetParam();
  Backend& be = testing::backend_named(impl);
  const int head_dim = 64, n_q = 4, n_kv = 2;
  const int64_t q_dim = n_q * head_dim, kv_dim = n_kv * head_dim, out = q_dim + 2 * kv_dim, cache_rows = 16;
  for (int64_t in : {256, 4096})
    for (int64_t T : {1, 2, 3})
      for (RopeLayout layout : {RopeLayout::Interleaved, RopeLayout::NeoX})
        for (int rot_dims : {64, 32})
          for (DType cache_type : {DType::F16, DType::F32, DType::Q8_0}) {
            SCOPED_TRACE(impl + " " + name(type) + " in=" + std::to_string(in) + " T=" + std::to_string(T) +
                         (layout == RopeLayout::NeoX ? " neox" : " interleaved") + " rot=" + std::to_string(rot_dims) +
                         " cache " + name(cache_type));
            Weights w = random_weights(type, out, in);
            HostBuffer x(DType::F32, {T, in}), norm_w(DType::F32, {in}), h(DType::F32, {T, in});
            HostBuffer want(DType::F32, {T, out}), got(DType::F32, {T, out});
            HostBuffer kc_want(cache_type, {cache_rows, kv_dim}), vc_want(cache_type, {cache_rows, kv_dim});
            HostBuffer kc(cache_type, {cache_rows, kv_dim}), vc(cache_type, {cache_rows, kv_dim});
            auto xv = random_floats(size_t(T * in), -3.f, 3.f), nv = random_floats(size_t(in), 0.5f, 1.5f);
            testing::fill(x.tensor(), [&](int64_t i) { return xv[size_t(i)]; });
            testing::fill(norm_w.tensor(), [&](int64_t i) { return nv[size_t(i)]; });
            // both caches start with the same random rows
            const auto cache_values = random_floats(size_t(2 * cache_rows * kv_dim));
            for (int64_t r = 0; r < cache_rows; ++r) {
              quantize_row(cache_type, cache_values.data() + r * kv_dim, kc_want.tensor().row(r), kv_dim);
              quantize_row(cache_type, cache_values.data() + (cache_rows + r) * kv_dim, vc_want.tensor().row(r),
                           kv_dim);
            }
            std::memcpy(kc.data(), kc_want.data(), kc.bytes());
            std::memcpy(vc.data(), vc_want.data(), vc.bytes());
            std::vector<int32_t> order(static_cast<size_t>(cache_rows));
            for (int32_t i = 0; i < int32_t(cache_rows); ++i) order[size_t(i)] = i;
            std::shuffle(order.begin(), order.end(), testing::rng());
            HostBuffer pos(DType::I32, {T});
            std::memcpy(pos.data(), order.data(), size_t(T) * 4);
            std::vector<float> inv_freq(size_t(rot_dims / 2));
            for (int i = 0; i < rot_dims / 2; ++i) inv_freq[size_t(i)] = float(std::pow(10000.0, -2.0 * i / rot_dims));
            const RopeSpec spec{head_dim, rot_dims, layout, inv_freq.data()};

            const Tensor wt = want.tensor();
            be.rms_norm_matmul(x.tensor(), norm_w.tensor(), 1e-5f, h.tensor(), w.q.tensor(), wt);
            be.rope_store_kv(wt.slice_cols(0, q_dim), wt.slice_cols(q_dim, kv_dim),
                             wt.slice_cols(q_dim + kv_dim, kv_dim), pos.tensor(), spec, kc_want.tensor(),
                             vc_want.tensor());
            testing::fill(got.tensor(), [](int64_t) { return std::nanf(""); });
            be.rms_norm_matmul_rope_store_kv(x.tensor(), norm_w.tensor(), 1e-5f, h.tensor(), w.q.tensor(), got.tensor(),
                                             kv_dim, pos.tensor(), spec, kc.tensor(), vc.tensor());
            // the same products; the rotation's products may be contracted differently (a few ulp),
            // which can move a cached value by one step of its type
            testing::expect_close(got.tensor(), want.tensor(), 1e-6, 1e-5, "q|k|v");
            const double cache_atol = cache_type == DType::Q8_0 ? 2.0 / 127 : 1e-6;
            const double cache_rtol = cache_type == DType::F16 ? 1e-3 : 1e-5;
            testing::expect_close(kc.tensor(), kc_want.tensor(), cache_atol, cache_rtol, "k cache");
            testing::expect_close(vc.tensor(), vc_want.tensor(), cache_atol, cache_rtol, "v cache");
            if (HasFailure()) return;
          }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, RmsNormMatmulRopeBattery,
                         ::testing::Combine(::testing::ValuesIn(testing::backend_names()),
                                            ::testing::Values(DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K)),
                         [](const auto& p) { return std::get<0>(p.param) + "_" + name(std::get<1>(p.param)); });

class MatmulErrors : public ::testing::TestWithParam<std::string> {};

// Expects Error whose message contains `needle`.
template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no Error; expected one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST_P(MatmulErrors, RejectsBadShapesAndTypes) {
  Backend& be = testing::backend_named(GetParam());
  HostBuffer x(DType::F32, {2, 64}), w(DType::Q8_0, {3, 64}), y(DType::F32, {2, 3}), b(DType::F32, {3});
  testing::fill(x.tensor(), [](int64_t i) { return float(i % 7) - 3.f; });
  Tensor bt = b.tensor();
  HostBuffer x_wide(DType::F32, {2, 96}), y_tall(DType::F32, {3, 3}), y_wide(DType::F32, {2, 4});
  HostBuffer b_long(DType::F32, {4}), x_f16(DType::F16, {2, 64}), y_f16(DType::F16, {2, 3});
  HostBuffer w_i32(DType::I32, {3, 64});
  expect_error([&] { be.matmul(x_wide.tensor(), w.tensor(), nullptr, y.tensor()); }, "f32[2, 96]");
  expect_error([&] { be.matmul(x.tensor(), w.tensor(), nullptr, y_tall.tensor()); }, "f32[3, 3]");
  expect_error([&] { be.matmul(x.tensor(), w.tensor(), nullptr, y_wide.tensor()); }, "q8_0[3, 64]");
  Tensor blt = b_long.tensor();
  expect_error([&] { be.matmul(x.tensor(), w.tensor(), &blt, y.tensor()); }, "bias f32[4]");
  expect_error([&] { be.matmul(x_f16.tensor(), w.tensor(), &bt, y.tensor()); }, "f16[2, 64]");
  expect_error([&] { be.matmul(x.tensor(), w.tensor(), &bt, y_f16.tensor()); }, "f16[2, 3]");
  expect_error([&] { be.matmul(x.tensor(), w_i32.tensor(), &bt, y.tensor()); }, "i32");
  // a q4_0 weight whose rows are not whole blocks (built by hand: view() refuses such shapes)
  Tensor bad = w.tensor();
  bad.type = DType::Q4_0;
  bad.shape[1] = 40;
  bad.stride[1] = 18;
  HostBuffer x40(DType::F32, {2, 40});
  expect_error([&] { be.matmul(x40.tensor(), bad, nullptr, y.tensor()); }, "q4_0[3, 40]");
  // and a good call still works afterwards
  be.matmul(x.tensor(), w.tensor(), &bt, y.tensor());
  EXPECT_FALSE(std::isnan(y.tensor().row<float>(1)[2]));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, MatmulErrors, ::testing::ValuesIn(testing::backend_names()));

TEST(MatmulActivations, QuantizeActivationsRoundsToNearestWithinHalfAStep) {
  auto x = random_floats(128, -3.f, 3.f);
  x[5] = 0.f;
  std::vector<cpu::ActBlock> blocks(4);
  cpu::quantize_activations(x.data(), blocks.data(), 128);
  for (int b = 0; b < 4; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[32 * b + i]));
    EXPECT_FLOAT_EQ(blocks[b].d, amax / 127.f);
    int sums[2] = {0, 0};
    for (int i = 0; i < 32; ++i) {
      const int q = blocks[b].qs[i];
      EXPECT_LE(std::abs(q), 127);
      EXPECT_LE(std::fabs(q * blocks[b].d - x[32 * b + i]), blocks[b].d * 0.5001f) << b << " " << i;
      sums[i / 16] += q;
    }
    EXPECT_FLOAT_EQ(blocks[b].s0, blocks[b].d * sums[0]);
    EXPECT_FLOAT_EQ(blocks[b].s1, blocks[b].d * sums[1]);
  }
}

TEST(MatmulActivations, Avx512QuantizerMatchesScalarBitForBit) {
  if (cpu::best_level() != cpu::Level::Avx512) return;  // nothing to compare on this processor
  auto x = random_floats(32 * 6, -5.f, 5.f);
  for (int i = 64; i < 96; ++i) x[size_t(i)] = 0.f;  // an all-zero block: d = 0
  x[100] = std::nanf("");                            // a NaN: quantized to 0, left out of the max
  x[140] = 127.5f;                                   // a block maximum far above the rest
  std::vector<cpu::ActBlock> a(6), b(6);
  cpu::quantize_activations(x.data(), a.data(), int64_t(x.size()));
  cpu::quantize_activations_avx512(x.data(), b.data(), int64_t(x.size()));
  for (int k = 0; k < 6; ++k) {
    EXPECT_EQ(a[k].d, b[k].d) << k;
    EXPECT_EQ(a[k].s0, b[k].s0) << k;
    EXPECT_EQ(a[k].s1, b[k].s1) << k;
    EXPECT_EQ(a[k].s, b[k].s) << k;
    for (int i = 0; i < 32; ++i) EXPECT_EQ(a[k].qs[i], b[k].qs[i]) << k << " " << i;
  }
}

}  // namespace
}  // namespace llmr
