// attention_matmul_add (a block's attention and output projection added into the residual stream):
// every backend against its own unfused ops (attention_from, then matmul_add), for f32 / f16 / q8_0
// caches, GQA, head dims that let CUDA quantize the attention output as it writes it (64, 128) and one
// that does not (40), one and two query rows, over enough keys that the attention splits them, and
// few keys in a long cache (CUDA sizes its grid for the cache and takes fewer splits as it reads the positions).
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/op_battery.h"
#include "tensor/quant.h"

namespace llmr::testing {
namespace {

class AttentionMatmulAddBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return backend_named(GetParam()); }
};

struct Case {
  int64_t tokens;
  int n_q, n_kv, head_dim;
  int32_t first_pos;
};

TEST_P(AttentionMatmulAddBattery, MatchesAttentionThenMatmulAdd) {
  const Case cases[] = {{1, 8, 2, 128, 300}, {2, 4, 4, 64, 450}, {1, 6, 2, 40, 200}, {2, 8, 2, 128, 0}, {1, 8, 2, 128, 40}};
  const int64_t cache_rows = 512, out = 96;
  for (const Case& c : cases)
    for (DType cache_type : {DType::F32, DType::F16, DType::Q8_0})
      for (DType w_type : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::F16}) {
        const int64_t q_cols = int64_t(c.n_q) * c.head_dim, kv_cols = int64_t(c.n_kv) * c.head_dim;
        if (q_cols % info(w_type).block_elems || (cache_type == DType::Q8_0 && c.head_dim % 32)) continue;
        const std::string what = GetParam() + " T " + std::to_string(c.tokens) + " heads " + std::to_string(c.n_q) +
                                 "/" + std::to_string(c.n_kv) + " hd " + std::to_string(c.head_dim) + " cache " +
                                 name(cache_type) + " w " + name(w_type);
        Strided q(DType::F32, c.tokens, q_cols), kc(cache_type, cache_rows, kv_cols), vc(cache_type, cache_rows, kv_cols);
        Strided attn(DType::F32, c.tokens, q_cols), attn_want(DType::F32, c.tokens, q_cols);
        Strided x(DType::F32, c.tokens, out), x_want(DType::F32, c.tokens, out);
        q.randomize(-2.f, 2.f), kc.randomize(-2.f, 2.f), vc.randomize(-2.f, 2.f), x.randomize(-5.f, 5.f);
        x_want.copy_from(x);
        HostBuffer w(w_type, {out, q_cols});
        for (int64_t r = 0; r < out; ++r) {
          const auto v = random_floats(size_t(q_cols), -1.f, 1.f);
          quantize_row(w_type, v.data(), w.tensor().row(r), q_cols);
        }
        HostBuffer pos(DType::I32, {c.tokens});
        for (int64_t t = 0; t < c.tokens; ++t) static_cast<int32_t*>(pos.data())[t] = c.first_pos + int32_t(t);
        const AttentionSpec spec{c.n_q, c.n_kv, c.head_dim, float(1.0 / std::sqrt(double(c.head_dim)))};

        impl().attention_from(q.t(), kc.t(), vc.t(), pos.tensor(), spec, attn_want.t());
        impl().matmul_add(attn_want.t(), w.tensor(), x_want.t());
        impl().attention_matmul_add(q.t(), kc.t(), vc.t(), pos.tensor(), spec, attn.t(), w.tensor(), x.t());
        expect_close(x.t(), x_want.t(), 1e-5, 1e-5, what);
        if (HasFailure()) return;
      }
}

INSTANTIATE_TEST_SUITE_P(Backends, AttentionMatmulAddBattery, ::testing::ValuesIn(backend_names()), param_name);

}  // namespace
}  // namespace llmr::testing
