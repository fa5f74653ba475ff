// rope_store_kv (one step's rotary embedding and KV cache write): every implementation against the
// reference running the unfused ops it stands for (rope_from on q and k, store_rows of k and v),
// for both rope layouts, partial rotary, GQA, f32 / f16 / q8_0 caches and scattered positions; rows
// of the cache no position names must come back untouched.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class RopeStoreKvBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

struct Case {
  int64_t tokens;
  int n_q, n_kv, head_dim, rot_dims;
};

TEST_P(RopeStoreKvBattery, MatchesTheUnfusedOps) {
  const Case cases[] = {{1, 32, 8, 128, 128}, {3, 4, 2, 64, 32}, {2, 2, 2, 64, 64}, {5, 6, 1, 32, 32}};
  const int64_t cache_rows = 16;
  for (RopeLayout layout : {RopeLayout::NeoX, RopeLayout::Interleaved})
    for (const Case& c : cases)
      for (DType cache_type : {DType::F32, DType::F16, DType::Q8_0}) {
        const std::string what = GetParam() + (layout == RopeLayout::NeoX ? " neox" : " interleaved") + " T " +
                                 std::to_string(c.tokens) + " heads " + std::to_string(c.n_q) + "/" +
                                 std::to_string(c.n_kv) + " hd " + std::to_string(c.head_dim) + " rot " +
                                 std::to_string(c.rot_dims) + " cache " + name(cache_type);
        const int64_t q_cols = int64_t(c.n_q) * c.head_dim, kv_cols = int64_t(c.n_kv) * c.head_dim;
        Strided q(DType::F32, c.tokens, q_cols, 3), k(DType::F32, c.tokens, kv_cols, 5), v(DType::F32, c.tokens, kv_cols);
        Strided q_want(DType::F32, c.tokens, q_cols), k_want(DType::F32, c.tokens, kv_cols);
        Strided kc(cache_type, cache_rows, kv_cols), vc(cache_type, cache_rows, kv_cols);
        Strided kc_want(cache_type, cache_rows, kv_cols), vc_want(cache_type, cache_rows, kv_cols);
        q.randomize(-2.f, 2.f), k.randomize(-2.f, 2.f), v.randomize(-2.f, 2.f);
        kc.randomize(), vc.randomize();  // what the rows no position names must keep
        q_want.copy_from(q), k_want.copy_from(k), kc_want.copy_from(kc), vc_want.copy_from(vc);
        // distinct positions in scattered order
        std::vector<int32_t> all(static_cast<size_t>(cache_rows));
        for (int32_t i = 0; i < int32_t(cache_rows); ++i) all[size_t(i)] = i;
        std::shuffle(all.begin(), all.end(), rng());
        HostBuffer pos(DType::I32, {c.tokens});
        std::memcpy(pos.data(), all.data(), size_t(c.tokens) * 4);
        std::vector<float> inv_freq(size_t(c.rot_dims / 2));
        for (int i = 0; i < c.rot_dims / 2; ++i) inv_freq[size_t(i)] = float(std::pow(10000.0, -2.0 * i / c.rot_dims));
        const RopeSpec spec{c.head_dim, c.rot_dims, layout, inv_freq.data()};

        Backend& ref = reference();
        ref.rope_from(q_want.t(), c.n_q, pos.tensor(), spec);
        ref.rope_from(k_want.t(), c.n_kv, pos.tensor(), spec);
        ref.store_rows(k_want.t(), kc_want.t(), pos.tensor());
        ref.store_rows(v.t(), vc_want.t(), pos.tensor());
        impl().rope_store_kv(q.t(), k.t(), v.t(), pos.tensor(), spec, kc.t(), vc.t());

        // rope: as the rope battery (cos/sin rounded to float: a few ulp of |x|); the cache: the same
        // values rounded to its type, where a value an ulp away may round the other way (f16: one f16
        // step, 2^-11 relative; q8_0: one step of its block's scale, amax / 127 <= 2 / 127)
        expect_close(q.t(), q_want.t(), 2e-6, 2e-6, what + " q");
        expect_close(k.t(), k_want.t(), 2e-6, 2e-6, what + " k");
        const double cache_atol = cache_type == DType::Q8_0 ? 2.0 / 127 : 2e-6;
        const double cache_rtol = cache_type == DType::F16 ? 1e-3 : 2e-6;
        expect_close(kc.t(), kc_want.t(), cache_atol, cache_rtol, what + " k cache");
        expect_close(vc.t(), vc_want.t(), cache_atol, cache_rtol, what + " v cache");
        EXPECT_TRUE(q.padding_intact() && k.padding_intact()) << what << " wrote between rows";
        if (HasFailure()) return;
      }
}

INSTANTIATE_TEST_SUITE_P(Impls, RopeStoreKvBattery, ::testing::ValuesIn(op_impl_names()), param_name);

}  // namespace
}  // namespace llmr::testing
