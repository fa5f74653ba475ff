// attention: causal over a KV cache, GQA ratios 1/4/8 and MQA, f32, f16 and q8_0 caches, queries at
// positions not starting at 0, a 4096-long context; every implementation against the reference;
// the oracle against properties of softmax-weighted averages.
#include <cmath>
#include <vector>

#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class AttentionBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

struct Shape {
  int64_t tokens, n_ctx;
  int n_head, n_kv_head, head_dim;
  int32_t first_pos;
};

void run_case(Backend& b, const Shape& s, DType k_type, DType v_type, bool scattered, const std::string& who) {
  const AttentionSpec spec{s.n_head, s.n_kv_head, s.head_dim, 1.f / std::sqrt(float(s.head_dim))};
  const int64_t qc = int64_t(s.n_head) * s.head_dim, kvc = int64_t(s.n_kv_head) * s.head_dim;
  Strided q(DType::F32, s.tokens, qc, 3), out(DType::F32, s.tokens, qc, 5), expect(DType::F32, s.tokens, qc);
  Strided k(k_type, s.n_ctx, kvc, k_type == DType::Q8_0 ? 32 : 2), v(v_type, s.n_ctx, kvc);
  q.randomize(-3.f, 3.f);  // sharp enough that the softmax is far from uniform
  k.randomize();
  v.randomize(-2.f, 2.f);
  std::vector<int32_t> pos(size_t(s.tokens));
  std::uniform_int_distribution<int32_t> any(0, int32_t(s.n_ctx - 1));
  for (int64_t t = 0; t < s.tokens; ++t) pos[t] = scattered ? any(rng()) : s.first_pos + int32_t(t);
  reference().attention(q.t(), k.t(), v.t(), pos, spec, expect.t());
  b.attention(q.t(), k.t(), v.t(), pos, spec, out.t());
  const std::string what = who + " T " + std::to_string(s.tokens) + " ctx " + std::to_string(s.n_ctx) + " heads " +
                           std::to_string(s.n_head) + "/" + std::to_string(s.n_kv_head) + " hd " +
                           std::to_string(s.head_dim) + " k " + name(k_type) + " v " + name(v_type) +
                           (scattered ? " scattered" : " from " + std::to_string(s.first_pos));
  expect_close(out.t(), expect.t(), 2e-5, 1e-4, what);
  EXPECT_TRUE(out.padding_intact()) << what << " wrote between rows of out";
}

TEST_P(AttentionBattery, MatchesReferenceAcrossGroupingsAndCacheTypes) {
  const Shape shapes[] = {
      {1, 1, 1, 1, 1, 0},       // one head, one key
      {5, 9, 4, 4, 16, 4},      // GQA ratio 1 (plain MHA), prefill continuing at position 4
      {7, 70, 8, 2, 64, 60},    // ratio 4; keys span two tiles
      {3, 300, 8, 1, 32, 131},  // MQA
      {4, 150, 16, 2, 17, 0},   // ratio 8, head_dim not a multiple of the vector width
      {2, 200, 6, 3, 80, 197},  // ratio 2, positions ending at the cache's last row
      {2, 1200, 4, 1, 64, 600}, // few (token, KV head) pairs: the CPU splits keys into chunks
  };
  const std::pair<DType, DType> caches[] = {
      {DType::F32, DType::F32}, {DType::F16, DType::F16}, {DType::F16, DType::F32}};
  for (const Shape& s : shapes)
    for (auto [kt, vt] : caches) {
      run_case(impl(), s, kt, vt, false, GetParam());
      run_case(impl(), s, kt, vt, true, GetParam());
    }
}

// q8_0 caches (head_dim a multiple of 32): every implementation reads the same blocks the reference
// dequantizes, so the f32 tolerance holds.
TEST_P(AttentionBattery, MatchesReferenceOnQ8Caches) {
  const Shape shapes[] = {
      {1, 1, 1, 1, 32, 0},       // one key, one block per head
      {7, 70, 8, 2, 64, 60},     // ratio 4; keys span two tiles
      {3, 300, 8, 1, 32, 131},   // MQA
      {5, 40, 6, 3, 96, 35},     // three blocks per head, positions reaching the cache's last row
      {2, 1200, 4, 1, 128, 600}, // few (token, KV head) pairs: the CPU splits keys into chunks
  };
  const std::pair<DType, DType> caches[] = {
      {DType::Q8_0, DType::Q8_0}, {DType::Q8_0, DType::F16}, {DType::F16, DType::Q8_0}};
  for (const Shape& s : shapes)
    for (auto [kt, vt] : caches) {
      run_case(impl(), s, kt, vt, false, GetParam());
      run_case(impl(), s, kt, vt, true, GetParam());
    }
  run_case(impl(), {1, 4096, 8, 2, 128, 4095}, DType::Q8_0, DType::Q8_0, false, GetParam() + " long");
}

// A q8_0 cache against the f32 cache it was quantized from: each stored element is within amax/254
// of its block's true value (keys in [-1, 1], values in [-2, 2]), which moves scores by ~1e-3 and
// the outputs (averages of values) by under 1e-2 (observed ~8e-3); the bound is 3e-2 absolute.
TEST_P(AttentionBattery, Q8CacheStaysCloseToTheF32Cache) {
  const int hd = 64;
  const AttentionSpec spec{8, 2, hd, 1.f / std::sqrt(float(hd))};
  const int64_t T = 4, n_ctx = 300, qc = 8 * hd, kvc = 2 * hd;
  Strided q(DType::F32, T, qc), k32(DType::F32, n_ctx, kvc), v32(DType::F32, n_ctx, kvc);
  Strided k8(DType::Q8_0, n_ctx, kvc), v8(DType::Q8_0, n_ctx, kvc), want(DType::F32, T, qc), got(DType::F32, T, qc);
  q.randomize(-3.f, 3.f);
  k32.randomize();
  v32.randomize(-2.f, 2.f);
  reference().copy(k32.t(), k8.t());
  reference().copy(v32.t(), v8.t());
  const std::vector<int32_t> pos{20, 150, 298, 299};
  reference().attention(q.t(), k32.t(), v32.t(), pos, spec, want.t());
  impl().attention(q.t(), k8.t(), v8.t(), pos, spec, got.t());
  expect_close(got.t(), want.t(), 3e-2, 0, GetParam() + " q8_0 cache vs f32 cache");
}

TEST_P(AttentionBattery, LongContextDecode) {
  // One query against 4096 cached keys: tiles, running max and rescaling over many steps.
  run_case(impl(), {1, 4096, 8, 2, 128, 4095}, DType::F16, DType::F16, false, GetParam() + " long");
  run_case(impl(), {2, 4096, 4, 4, 64, 3000}, DType::F32, DType::F32, false, GetParam() + " long");
}

TEST_P(AttentionBattery, RejectsBadShapes) {
  const AttentionSpec spec{4, 2, 8, 0.35f};
  Strided q(DType::F32, 2, 32), out(DType::F32, 2, 32), k(DType::F16, 10, 16), v(DType::F16, 10, 16);
  Strided k_bf(DType::BF16, 10, 16), v_short(DType::F16, 9, 16), out_wide(DType::F32, 2, 33);
  const std::vector<int32_t> pos{3, 4}, past_end{3, 10}, one{3};
  Backend& b = impl();
  expect_error([&] { b.attention(q.t(), k.t(), v.t(), past_end, spec, out.t()); }, "attention: position 10 of row 1 is outside the cache");
  expect_error([&] { b.attention(q.t(), k.t(), v.t(), one, spec, out.t()); }, "attention: 1 positions for q f32[2, 32]");
  expect_error([&] { b.attention(q.t(), k_bf.t(), v.t(), pos, spec, out.t()); }, "attention: k_cache bf16[10, 16] must be f32 or f16");
  expect_error([&] { b.attention(q.t(), k.t(), v_short.t(), pos, spec, out.t()); }, "attention: k_cache and v_cache hold different numbers of rows");
  expect_error([&] { b.attention(q.t(), k.t(), v.t(), pos, spec, out_wide.t()); }, "attention: shapes differ");
  expect_error([&] { b.attention(q.t(), k.t(), v.t(), pos, {4, 3, 8, 0.35f}, out.t()); }, "attention: n_head must be a multiple of n_kv_head");
  expect_error([&] { b.attention(q.t(), k.t(), v.t(), pos, {4, 2, 4, 0.35f}, out.t()); }, "attention: q f32[2, 32] must have n_head * head_dim columns");
  expect_error([&] { b.attention(q.t(), k.t(), v.t(), pos, {4, 0, 8, 0.35f}, out.t()); }, "attention: head counts");
  // q8_0 rows are blocks of 32: a head of 16 would split a block.
  Strided q16(DType::F32, 2, 64), out16(DType::F32, 2, 64), k8(DType::Q8_0, 10, 32), v8(DType::Q8_0, 10, 32);
  expect_error([&] { b.attention(q16.t(), k8.t(), v8.t(), pos, {4, 2, 16, 0.25f}, out16.t()); },
               "attention: k_cache q8_0[10, 32] is q8_0, which needs head_dim and rows in whole blocks of 32 (head_dim 16)");
}

INSTANTIATE_TEST_SUITE_P(Impls, AttentionBattery, ::testing::ValuesIn(op_impl_names()), param_name);

// The oracle against what attention must return in cases worked out by hand.
TEST(AttentionReference, OneKeyReturnsItsValueAndEqualKeysAverageTheValues) {
  const int hd = 8;
  const AttentionSpec spec{2, 1, hd, 0.5f};
  Strided q(DType::F32, 2, 2 * hd), out(DType::F32, 2, 2 * hd), k(DType::F32, 5, hd), v(DType::F32, 5, hd);
  q.randomize(-5.f, 5.f);
  v.randomize();
  const auto key = random_floats(hd);
  fill(k.t(), [&](int64_t i) { return key[size_t(i % hd)]; });  // every key the same
  const std::vector<int32_t> pos{0, 4};
  reference().attention(q.t(), k.t(), v.t(), pos, spec, out.t());
  for (int h = 0; h < 2; ++h)
    for (int d = 0; d < hd; ++d) {
      EXPECT_NEAR(element(out.t(), 0, h * hd + d), element(v.t(), 0, d), 1e-6);  // position 0 sees only key 0
      double mean = 0;
      for (int j = 0; j < 5; ++j) mean += element(v.t(), j, d) / 5.0;
      EXPECT_NEAR(element(out.t(), 1, h * hd + d), mean, 1e-6);  // equal scores: plain average
    }
}

TEST(AttentionReference, AMatchingKeyDominatesWhenScoresAreSharp) {
  const int hd = 4;
  const AttentionSpec spec{1, 1, hd, 50.f};
  Strided q(DType::F32, 1, hd), out(DType::F32, 1, hd), k(DType::F32, 3, hd), v(DType::F32, 3, hd);
  fill(q.t(), [](int64_t i) { return i == 2 ? 1.f : 0.f; });
  fill(k.t(), [](int64_t i) { return i / 4 == int64_t(i % 4) ? 1.f : 0.f; });  // key j = e_j
  v.randomize();
  reference().attention(q.t(), k.t(), v.t(), std::vector<int32_t>{2}, spec, out.t());
  for (int d = 0; d < hd; ++d) EXPECT_NEAR(element(out.t(), 0, d), element(v.t(), 2, d), 1e-6);
}

}  // namespace
}  // namespace llmr::testing
