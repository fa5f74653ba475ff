// Decode graphs on host backends: they cannot record, so a Transformer asked for graphs runs every step
// directly and its logits equal, bit for bit, those of one that was not asked (CPU and reference). The
// host defaults of the *_from ops equal the span ops they stand for.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "fixture_util.h"
#include "model/kv_cache.h"
#include "model/loaded_model.h"
#include "model/transformer.h"
#include "ops/reference/reference_backend.h"
#include "test_util.h"

namespace llmr::testing {
namespace {

TEST(DecodeGraphHost, AskingForGraphsChangesNothingOnHostBackends) {
  auto f = load_fixture("qwen3");
  auto m = load_model(f.dir);
  CpuBackend cpu(2);
  ReferenceBackend ref;
  for (Backend* be : {static_cast<Backend*>(&cpu), static_cast<Backend*>(&ref)}) {
    Transformer plain(m->config, m->weights, *be), asked(m->config, m->weights, *be);
    plain.set_decode_graphs(false);
    asked.set_decode_graphs(true);
    KvCache c1(m->config, 32, DType::F16), c2(m->config, 32, DType::F16);
    const std::vector<int32_t> prompt = f.ids("prompt_ids");
    plain.forward(prompt, 0, c1);
    asked.forward(prompt, 0, c2);
    std::uniform_int_distribution<int32_t> tok(0, int32_t(m->config.n_vocab - 1));
    for (int64_t pos = int64_t(prompt.size()); pos < int64_t(prompt.size()) + 5; ++pos) {
      const std::vector<int32_t> one = {tok(rng())};
      const Tensor a = plain.forward(one, pos, c1);
      const std::vector<float> want(a.row<float>(0), a.row<float>(0) + a.cols());
      const Tensor b = asked.forward(one, pos, c2);
      ASSERT_EQ(std::memcmp(want.data(), b.row<float>(0), want.size() * sizeof(float)), 0)
          << be->name() << " pos " << pos;
    }
    EXPECT_EQ(asked.graph_replays(), 0) << be->name();
    EXPECT_FALSE(asked.decode_graphs()) << be->name() << ": a host backend cannot record, so graphs switch off";
  }
}

void fill_from(const Tensor& t, const std::vector<float>& v) {
  fill(t, [&](int64_t i) { return v[size_t(i)]; });
}

TEST(DecodeGraphHost, FromOpsEqualTheSpanOps) {
  CpuBackend cpu(2);
  const int64_t T = 3, heads = 2, hd = 16, vocab = 11;
  std::vector<int32_t> ids = {4, 0, 10}, pos = {7, 2, 9};
  const Tensor ids_t = Tensor::view(ids.data(), DType::I32, {T}), pos_t = Tensor::view(pos.data(), DType::I32, {T});
  HostBuffer table(DType::F32, {vocab, hd}), e1(DType::F32, {T, hd}), e2(DType::F32, {T, hd});
  fill_from(table.tensor(), random_floats(size_t(vocab * hd), -1.f, 1.f));
  cpu.embedding(table.tensor(), ids, e1.tensor());
  cpu.embedding_from(table.tensor(), ids_t, e2.tensor());
  EXPECT_EQ(std::memcmp(e1.tensor().data, e2.tensor().data, size_t(T * hd) * 4), 0);

  std::vector<float> inv(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv[size_t(i)] = 1.f / float(1 + i);
  const RopeSpec rope{int(hd), int(hd), RopeLayout::NeoX, inv.data()};
  HostBuffer q1(DType::F32, {T, heads * hd}), q2(DType::F32, {T, heads * hd});
  const auto qv = random_floats(size_t(T * heads * hd), -1.f, 1.f);
  fill_from(q1.tensor(), qv);
  fill_from(q2.tensor(), qv);
  cpu.rope(q1.tensor(), int(heads), pos, rope);
  cpu.rope_from(q2.tensor(), int(heads), pos_t, rope);
  EXPECT_EQ(std::memcmp(q1.tensor().data, q2.tensor().data, size_t(T * heads * hd) * 4), 0);

  const int64_t n_ctx = 12;
  HostBuffer k(DType::F32, {n_ctx, hd}), v(DType::F32, {n_ctx, hd}), o1(DType::F32, {T, heads * hd}),
      o2(DType::F32, {T, heads * hd});
  fill_from(k.tensor(), random_floats(size_t(n_ctx * hd), -1.f, 1.f));
  fill_from(v.tensor(), random_floats(size_t(n_ctx * hd), -1.f, 1.f));
  const AttentionSpec spec{int(heads), 1, int(hd), 0.25f};
  cpu.attention(q1.tensor(), k.tensor(), v.tensor(), pos, spec, o1.tensor());
  cpu.attention_from(q1.tensor(), k.tensor(), v.tensor(), pos_t, spec, o2.tensor());
  EXPECT_EQ(std::memcmp(o1.tensor().data, o2.tensor().data, size_t(T * heads * hd) * 4), 0);

  std::vector<float> not_ints = {0.f, 1.f, 2.f};
  EXPECT_THROW(cpu.rope_from(q2.tensor(), int(heads), Tensor::view(not_ints.data(), DType::F32, {T}), rope), Error);
  std::vector<int32_t> short_pos = {1};
  EXPECT_THROW(cpu.rope_from(q2.tensor(), int(heads), Tensor::view(short_pos.data(), DType::I32, {1}), rope), Error);
}

}  // namespace
}  // namespace llmr::testing
