// How ShardPlan splits weights: every shard has the shape its rank's config needs, the N shards put
// back together are the original bytes, row splits are views of the original memory, and a model
// that cannot be split N ways is refused with a message that says why.
#include <gtest/gtest.h>

#include <cstring>

#include "../model/fixture_util.h"
#include "model/loaded_model.h"
#include "model/shard_plan.h"
#include "tp_test_util.h"

namespace llmr {
namespace {

using namespace llmr::testing;

bool same_shape(const Tensor& t, std::vector<int64_t> shape) {
  if (t.ndim != int(shape.size())) return false;
  for (int i = 0; i < t.ndim; ++i)
    if (t.shape[i] != shape[size_t(i)]) return false;
  return true;
}

// Byte range [begin, end) of `part` lies inside `whole`'s storage.
bool inside(const Tensor& part, const Tensor& whole) {
  const char *p = static_cast<const char*>(part.data), *w = static_cast<const char*>(whole.data);
  const size_t whole_bytes = size_t(whole.rows()) * row_bytes(whole.type, whole.cols());
  return p >= w && p < w + whole_bytes;
}

// Row r of the full weight equals the concatenation, over ranks, of that row in each column shard.
void expect_cols_reassemble(const Tensor& full, const std::vector<Tensor>& shards, const std::string& what) {
  for (int64_t r = 0; r < full.rows(); ++r) {
    size_t offset = 0;
    for (const Tensor& s : shards) {
      ASSERT_EQ(s.rows(), full.rows()) << what;
      const size_t len = row_bytes(s.type, s.cols());
      ASSERT_EQ(std::memcmp(full.row<char>(r) + offset, s.row(r), len), 0) << what << " row " << r;
      offset += len;
    }
    ASSERT_EQ(offset, row_bytes(full.type, full.cols())) << what;
  }
}

// The shards, stacked by rows, are the full weight's rows in order.
void expect_rows_reassemble(const Tensor& full, const std::vector<Tensor>& shards, const std::string& what) {
  int64_t row = 0;
  const bool vec = full.ndim == 1;
  for (const Tensor& s : shards) {
    const int64_t n = vec ? s.shape[0] : s.rows();
    const size_t bytes = vec ? row_bytes(s.type, n) : size_t(n) * row_bytes(s.type, s.cols());
    const char* want = vec ? static_cast<const char*>(full.data) + row_bytes(full.type, row) : full.row<char>(row);
    EXPECT_EQ(std::memcmp(want, s.data, bytes), 0) << what << " at row " << row;
    EXPECT_TRUE(inside(s, full)) << what << ": a row split must be a view, not a copy";
    row += n;
  }
  EXPECT_EQ(row, vec ? full.shape[0] : full.rows()) << what;
}

void check_plan(const ModelConfig& c, const ModelWeights& full, int n) {
  SCOPED_TRACE("degree " + std::to_string(n));
  ShardPlan plan(c, full, n);
  ASSERT_EQ(plan.n_ranks(), n);
  std::vector<ShardedWeights> shards;
  for (int r = 0; r < n; ++r) shards.push_back(shard_weights(plan, full, r));
  const int64_t hd = c.head_dim;
  int64_t vocab_total = 0;
  for (int r = 0; r < n; ++r) {
    const ModelConfig& rc = shards[size_t(r)].config;
    const ModelWeights& w = shards[size_t(r)].weights;
    EXPECT_EQ(rc.n_head, c.n_head / n);
    EXPECT_EQ(rc.n_head_kv, c.n_head_kv / n);
    EXPECT_EQ(rc.n_ff, c.n_ff / n);
    EXPECT_NO_THROW(rc.validate());
    EXPECT_LE(std::abs(rc.n_vocab - c.n_vocab / n), 1);
    EXPECT_EQ(plan.slice(r).vocab_begin, vocab_total);
    vocab_total += rc.n_vocab;
    EXPECT_TRUE(same_shape(w.token_embd, {rc.n_vocab, c.n_embd})) << w.token_embd.describe();
    EXPECT_TRUE(same_shape(w.output, {rc.n_vocab, c.n_embd})) << w.output.describe();
    EXPECT_EQ(w.output.data == w.token_embd.data, full.output.data == full.token_embd.data) << "tying kept";
    EXPECT_EQ(w.output_norm.data, full.output_norm.data) << "replicated";
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const LayerWeights &s = w.layers[size_t(l)], &f = full.layers[size_t(l)];
      const int64_t q = rc.n_head * hd, kv = rc.n_head_kv * hd;
      EXPECT_TRUE(same_shape(s.wq, {q, c.n_embd})) << s.wq.describe();
      EXPECT_TRUE(same_shape(s.wk, {kv, c.n_embd})) << s.wk.describe();
      EXPECT_TRUE(same_shape(s.wv, {kv, c.n_embd})) << s.wv.describe();
      EXPECT_TRUE(same_shape(s.wo, {c.n_embd, q})) << s.wo.describe();
      EXPECT_TRUE(same_shape(s.w_gate, {rc.n_ff, c.n_embd})) << s.w_gate.describe();
      EXPECT_TRUE(same_shape(s.w_up, {rc.n_ff, c.n_embd})) << s.w_up.describe();
      EXPECT_TRUE(same_shape(s.w_down, {c.n_embd, rc.n_ff})) << s.w_down.describe();
      if (c.qkv_bias) {
        EXPECT_TRUE(same_shape(s.bq, {q})) << s.bq.describe();
        EXPECT_TRUE(same_shape(s.bk, {kv})) << s.bk.describe();
        EXPECT_TRUE(same_shape(s.bv, {kv})) << s.bv.describe();
      } else {
        EXPECT_EQ(s.bq.data, nullptr);
      }
      for (auto [a, b] : {std::pair{&s.attn_norm, &f.attn_norm}, {&s.ffn_norm, &f.ffn_norm},
                          {&s.q_norm, &f.q_norm}, {&s.k_norm, &f.k_norm}})
        EXPECT_EQ(a->data, b->data) << "norms are replicated";
      // Types are kept: a quantized weight's shard is of the same type.
      for (auto [a, b] : {std::pair{&s.wq, &f.wq}, {&s.wo, &f.wo}, {&s.w_down, &f.w_down}}) EXPECT_EQ(a->type, b->type);
      if (n > 1) {
        EXPECT_FALSE(inside(s.wo, f.wo)) << "a column split is a copy";
        EXPECT_FALSE(inside(s.w_down, f.w_down)) << "a column split is a copy";
      }
    }
  }
  EXPECT_EQ(vocab_total, c.n_vocab);
  auto gather = [&](auto pick) {
    std::vector<Tensor> v;
    for (auto& s : shards) v.push_back(pick(s.weights));
    return v;
  };
  expect_rows_reassemble(full.token_embd, gather([](const ModelWeights& w) { return w.token_embd; }), "token_embd");
  expect_rows_reassemble(full.output, gather([](const ModelWeights& w) { return w.output; }), "output");
  for (size_t l = 0; l < size_t(c.n_layer); ++l) {
    const LayerWeights& f = full.layers[l];
    auto layer = [&](Tensor LayerWeights::*m) { return gather([&](const ModelWeights& w) { return w.layers[l].*m; }); };
    expect_rows_reassemble(f.wq, layer(&LayerWeights::wq), "wq");
    expect_rows_reassemble(f.wk, layer(&LayerWeights::wk), "wk");
    expect_rows_reassemble(f.wv, layer(&LayerWeights::wv), "wv");
    expect_rows_reassemble(f.w_gate, layer(&LayerWeights::w_gate), "w_gate");
    expect_rows_reassemble(f.w_up, layer(&LayerWeights::w_up), "w_up");
    if (c.qkv_bias) {
      expect_rows_reassemble(f.bq, layer(&LayerWeights::bq), "bq");
      expect_rows_reassemble(f.bk, layer(&LayerWeights::bk), "bk");
      expect_rows_reassemble(f.bv, layer(&LayerWeights::bv), "bv");
    }
    expect_cols_reassemble(f.wo, layer(&LayerWeights::wo), "wo");
    expect_cols_reassemble(f.w_down, layer(&LayerWeights::w_down), "w_down");
  }
}

// The error for splitting `c` n ways, or "" if it splits.
std::string split_error(const ModelConfig& c, const ModelWeights& w, int n) {
  try {
    ShardPlan plan(c, w, n);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

TEST(ShardPlan, EveryFixtureWeightSplitsToTheRightShapes) {
  for (const auto& name : fixture_names()) {
    SCOPED_TRACE(name);
    auto m = load_model(fixtures_dir() / name);
    for (int n : {1, 2, 4})
      if (m->config.n_head_kv % n == 0) check_plan(m->config, m->weights, n);
  }
}

TEST(ShardPlan, GqaModelWithBiasesQkNormsAndUnevenVocabulary) {
  for (bool tied : {false, true}) {
    MemoryModel m = random_gqa_model(tied);
    for (int n : {1, 2, 4}) check_plan(m.config, m.weights, n);
  }
}

TEST(ShardPlan, QuantizedWeightsSplitAtBlockBoundaries) {
  auto m = load_model(fixtures_dir() / "llama2");  // n_head_kv 4, head_dim 32, n_ff 320
  const ModelWeights q8 = quantized_weights(m->weights, DType::Q8_0);
  check_plan(m->config, q8, 2);  // wo slices of 64, w_down slices of 160: whole q8_0 blocks of 32
  // w_down would be cut into slices of 80 columns, which is not whole blocks of 32.
  const std::string e = split_error(m->config, q8, 4);
  EXPECT_NE(e.find("ffn_down"), std::string::npos) << e;
  EXPECT_NE(e.find("q8_0"), std::string::npos) << e;
  EXPECT_NE(e.find("80"), std::string::npos) << e;
}

TEST(ShardPlan, ColumnSplitOfAQuantizedRowMustBeWholeBlocks) {
  ModelWeights w;
  std::vector<float> src = random_floats(2 * 512);
  Tensor f32 = Tensor::view(src.data(), DType::F32, {2, 512});
  const Tensor q4k = quantized_copy(w, f32, DType::Q4_K);  // two 256-value blocks a row
  std::vector<std::unique_ptr<HostBuffer>> owned;
  const Tensor right = shard_cols(q4k, 256, 256, "w", owned);
  EXPECT_TRUE(same_shape(right, {2, 256}));
  std::vector<float> got(256), want(512);
  for (int64_t r = 0; r < 2; ++r) {
    dequantize_row(DType::Q4_K, right.row(r), got.data(), 256);
    dequantize_row(DType::Q4_K, q4k.row(r), want.data(), 512);
    for (int i = 0; i < 256; ++i) ASSERT_EQ(got[size_t(i)], want[size_t(256 + i)]);
  }
  try {
    shard_cols(q4k, 128, 128, "blk.3.ffn_down.weight", owned);
    FAIL() << "a split inside a q4_k block was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.3.ffn_down.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
  }
  EXPECT_THROW(shard_cols(q4k, 256, 512, "w", owned), Error);  // past the end
}

TEST(ShardPlan, InvalidDegreesAreRefusedWithTheReason) {
  auto mqa = load_model(fixtures_dir() / "llama-mqa");  // one KV head
  std::string e = split_error(mqa->config, mqa->weights, 2);
  EXPECT_NE(e.find("1 key/value heads"), std::string::npos) << e;
  auto llama3 = load_model(fixtures_dir() / "llama3");  // two KV heads
  e = split_error(llama3->config, llama3->weights, 4);
  EXPECT_NE(e.find("2 key/value heads"), std::string::npos) << e;
  e = split_error(llama3->config, llama3->weights, 3);
  EXPECT_NE(e.find("over 3 ranks"), std::string::npos) << e;
  for (int n : {0, -2}) {
    e = split_error(llama3->config, llama3->weights, n);
    EXPECT_NE(e.find("at least 1"), std::string::npos) << e;
  }
  ModelConfig odd_ff = llama3->config;
  odd_ff.n_ff = 321;  // the weights are not consulted before the degree checks
  e = split_error(odd_ff, llama3->weights, 2);
  EXPECT_NE(e.find("feed-forward length 321"), std::string::npos) << e;
}

}  // namespace
}  // namespace llmr
