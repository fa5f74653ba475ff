// Single-token steps replayed from a recorded CUDA graph give the logits of the direct path: a fixture
// model (f32 safetensors) and q8_0 GGUFs made by convert_hf_to_gguf, over 20 greedy decode steps after
// the prompt, with a 3-token chunk in the middle (direct steps between replays) and a second cache (the
// graph is recorded again for its buffers), with f16 and q8_0 KV caches. The only difference allowed is the summation order of
// attention (the graph's launch is sized for its span of the cache): 1e-3 of the largest logit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "model/fixture_util.h"
#include "model/gguf_export.h"
#include "model/kv_cache.h"
#include "model/loaded_model.h"
#include "model/transformer.h"

namespace llmr::testing {
namespace {

constexpr double kRelTol = 1e-3;

// Largest |a - b| over one row of logits, relative to the largest |b| (at least 1).
double relative_error(const Tensor& a, const Tensor& b) {
  double worst = 0, scale = 1;
  for (int64_t i = 0; i < b.cols(); ++i) {
    worst = std::max(worst, double(std::fabs(a.row<float>(0)[i] - b.row<float>(0)[i])));
    scale = std::max(scale, double(std::fabs(b.row<float>(0)[i])));
  }
  return worst / scale;
}

int32_t argmax(const Tensor& logits) {
  const float* p = logits.row<float>(logits.rows() - 1);
  return int32_t(std::max_element(p, p + logits.cols()) - p);
}

std::vector<float> copy_row(const Tensor& t) {
  const float* p = t.row<float>(t.rows() - 1);
  return {p, p + t.cols()};
}

void check_graph_matches_direct(const LoadedModel& m, const std::vector<int32_t>& prompt, const std::string& what,
                                DType kv_type = DType::F16) {
  auto backend = make_cuda_backend(0);
  Transformer direct(m.config, m.weights, *backend), graphed(m.config, m.weights, *backend);
  direct.set_decode_graphs(false);
  graphed.set_decode_graphs(true);
  std::vector<std::unique_ptr<KvCache>> caches;  // all kept alive: round 1's buffers differ from round 0's
  for (int round = 0; round < 2; ++round) {       // round 1: new caches, so the graph is recorded again
    caches.push_back(std::make_unique<KvCache>(m.config, 96, kv_type, backend.get()));
    caches.push_back(std::make_unique<KvCache>(m.config, 96, kv_type, backend.get()));
    KvCache &cache_d = *caches[caches.size() - 2], &cache_g = *caches.back();
    std::vector<float> want = copy_row(direct.forward(prompt, 0, cache_d));
    Tensor got = graphed.forward(prompt, 0, cache_g);
    ASSERT_LE(relative_error(got, Tensor::view(want.data(), DType::F32, {1, int64_t(want.size())})), kRelTol) << what;
    int64_t pos = int64_t(prompt.size());
    const int64_t replays_before = graphed.graph_replays();
    for (int step = 0; step < 20; ++step) {
      const int32_t token = argmax(Tensor::view(want.data(), DType::F32, {1, int64_t(want.size())}));
      if (step == 10) {  // a multi-token chunk runs directly between replays, writing the same caches
        const std::vector<int32_t> chunk = {token, int32_t((token + 7) % m.config.n_vocab), token};
        want = copy_row(direct.forward(chunk, pos, cache_d));
        got = graphed.forward(chunk, pos, cache_g);
        pos += 3;
      } else {
        const std::vector<int32_t> one = {token};
        want = copy_row(direct.forward(one, pos, cache_d));
        got = graphed.forward(one, pos, cache_g);
        pos += 1;
      }
      const Tensor w = Tensor::view(want.data(), DType::F32, {1, int64_t(want.size())});
      ASSERT_LE(relative_error(got, w), kRelTol) << what << " round " << round << " step " << step << " pos " << pos;
    }
    // The first single-token step of a new cache runs directly; the next records and replays, as do
    // the other 17 (step 10 is the 3-token chunk).
    EXPECT_EQ(graphed.graph_replays() - replays_before, 18) << what << " round " << round;
    EXPECT_EQ(direct.graph_replays(), 0) << what;
    // The recorded step's kernels, as bench reports them: a layer's products, attention and norms at least.
    EXPECT_GE(graphed.graph_kernels(), 4 * m.config.n_layer) << what;
    EXPECT_EQ(direct.graph_kernels(), 0) << what;
  }
}

TEST(CudaDecodeGraph, FixtureModelReplayMatchesDirectSteps) {
  for (const char* name : {"llama2", "qwen3"}) {
    auto f = load_fixture(name);
    auto m = load_model(f.dir);
    check_graph_matches_direct(*m, f.ids("prompt_ids"), name);
  }
}

// A q8_0 KV cache: the replayed step quantizes its K/V rows (store_rows) where the direct step's copy
// does, into the same blocks, and attends over them with the same kernel.
TEST(CudaDecodeGraph, Q8KvCacheReplayMatchesDirectSteps) {
  for (const char* name : {"llama3", "qwen3"}) {
    auto f = load_fixture(name);
    auto m = load_model(f.dir);
    check_graph_matches_direct(*m, f.ids("prompt_ids"), std::string(name) + " kv q8_0", DType::Q8_0);
  }
}

TEST(CudaDecodeGraph, Q8GgufReplayMatchesDirectSteps) {
  for (const char* name : {"llama3", "qwen2"}) {
    auto f = load_fixture(name);
    const auto path = std::filesystem::temp_directory_path() /
                      ("llmr_graph_" + std::string(name) + "_" + std::to_string(getpid()) + ".gguf");
    convert_hf_to_gguf(f.dir, path, DType::Q8_0);
    {
      auto m = load_model(path);
      check_graph_matches_direct(*m, f.ids("prompt_ids"), std::string(name) + " q8_0");
    }
    std::filesystem::remove(path);
  }
}

// The llama2 fixture on one CUDA backend: a transformer that replays recorded steps and one that runs
// every step directly, each with its own cache of n_ctx tokens.
struct GraphedAndDirect {
  explicit GraphedAndDirect(int64_t n_ctx)
      : fixture(load_fixture("llama2")),
        model(load_model(fixture.dir)),
        backend(make_cuda_backend(0)),
        graphed(model->config, model->weights, *backend),
        direct(model->config, model->weights, *backend),
        cache_g(model->config, n_ctx, DType::F16, backend.get()),
        cache_d(model->config, n_ctx, DType::F16, backend.get()) {
    graphed.set_decode_graphs(true);
    direct.set_decode_graphs(false);
  }
  Fixture fixture;
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<Backend> backend;
  Transformer graphed, direct;
  KvCache cache_g, cache_d;
};

// A recorded step attends over the cache's first 128, 256, ... rows: going from position 6 to 299 of a
// 300-token cache takes three recordings (spans 128, 256 and the whole 300), each matching the direct
// steps, and a second pass over the same positions records nothing more.
TEST(CudaDecodeGraph, StepsRecordedPerSpanOfPositions) {
  GraphedAndDirect t(300);
  const std::vector<int32_t> prompt = t.fixture.ids("prompt_ids");
  ASSERT_LT(prompt.size(), 128u);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<float> want = copy_row(t.direct.forward(prompt, 0, t.cache_d));
    t.graphed.forward(prompt, 0, t.cache_g);
    for (int64_t pos = int64_t(prompt.size()); pos < 300; ++pos) {
      const std::vector<int32_t> one = {argmax(Tensor::view(want.data(), DType::F32, {1, int64_t(want.size())}))};
      want = copy_row(t.direct.forward(one, pos, t.cache_d));
      const Tensor got = t.graphed.forward(one, pos, t.cache_g);
      ASSERT_LE(relative_error(got, Tensor::view(want.data(), DType::F32, {1, int64_t(want.size())})), kRelTol)
          << "pass " << pass << " pos " << pos;
    }
    EXPECT_EQ(t.graphed.graphs_recorded(), 3) << "pass " << pass;
  }
  // Every single-token step but the first (direct) replays: 300 - |prompt| - 1, then 300 - |prompt|.
  EXPECT_EQ(t.graphed.graph_replays(), 2 * (300 - int64_t(prompt.size())) - 1);
}

// The recorded step's kernels timed one by one (bench --step-kernels): one entry per kernel node, in
// launch order, each with a name, a launch shape and a positive time; the direct transformer has none.
TEST(CudaDecodeGraph, StepKernelsTimedOneByOne) {
  GraphedAndDirect t(64);
  for (int32_t pos = 0; pos < 3; ++pos) {
    t.graphed.forward(std::vector<int32_t>{1}, pos, t.cache_g);
    t.direct.forward(std::vector<int32_t>{1}, pos, t.cache_d);
  }
  const std::vector<KernelTime> kernels = t.graphed.time_step_kernels(3);
  ASSERT_EQ(int64_t(kernels.size()), t.graphed.graph_kernels());
  for (const KernelTime& k : kernels) {
    EXPECT_FALSE(k.name.empty());
    EXPECT_NE(k.name.back(), ')') << k.name;  // the parameter list is dropped
    EXPECT_GE(k.blocks, 1) << k.name;
    EXPECT_GE(k.threads, 32) << k.name;
    EXPECT_GT(k.microseconds, 0.0) << k.name;
  }
  // In launch order: the step starts with the token's embedding.
  EXPECT_NE(kernels.front().name.find("embed"), std::string::npos) << kernels.front().name;
  EXPECT_TRUE(t.direct.time_step_kernels(3).empty());
}

// The recorded step with each group of its kernels knocked out (bench --step-knockout): the groups
// cover every kernel node once, the times are positive, and the recording is whole afterwards (its
// nodes enabled again): graphed steps after a fresh prompt match the direct ones.
TEST(CudaDecodeGraph, StepKernelsKnockedOutByGroup) {
  GraphedAndDirect t(64);
  const std::vector<int32_t> prompt = t.fixture.ids("prompt_ids");
  ASSERT_LT(prompt.size(), 60u);
  for (int32_t pos = 0; pos < 3; ++pos) t.graphed.forward(std::vector<int32_t>{1}, pos, t.cache_g);
  const std::vector<KernelKnockout> groups = t.graphed.knockout_step_kernels(3);
  ASSERT_FALSE(groups.empty());
  int64_t kernels = 0;
  for (const KernelKnockout& g : groups) {
    EXPECT_FALSE(g.name.empty());
    EXPECT_GE(g.count, 1) << g.name;
    EXPECT_GE(g.blocks, 1) << g.name;
    EXPECT_GT(g.step_us, 0.0) << g.name;
    EXPECT_GT(g.without_us, 0.0) << g.name;
    kernels += g.count;
  }
  EXPECT_EQ(kernels, t.graphed.graph_kernels());
  EXPECT_TRUE(t.direct.knockout_step_kernels(3).empty());

  std::vector<float> want = copy_row(t.direct.forward(prompt, 0, t.cache_d));
  t.graphed.forward(prompt, 0, t.cache_g);
  const int64_t replays = t.graphed.graph_replays();
  for (int64_t pos = int64_t(prompt.size()); pos < int64_t(prompt.size()) + 3; ++pos) {
    const std::vector<int32_t> one = {argmax(Tensor::view(want.data(), DType::F32, {1, int64_t(want.size())}))};
    want = copy_row(t.direct.forward(one, pos, t.cache_d));
    const Tensor got = t.graphed.forward(one, pos, t.cache_g);
    ASSERT_LE(relative_error(got, Tensor::view(want.data(), DType::F32, {1, int64_t(want.size())})), kRelTol)
        << "pos " << pos;
  }
  EXPECT_GT(t.graphed.graph_replays(), replays);  // the steps above replayed the recording
}

TEST(CudaDecodeGraph, ContextLimitsAndBadTokensAreCheckedBeforeReplay) {
  auto f = load_fixture("llama2");
  auto m = load_model(f.dir);
  auto backend = make_cuda_backend(0);
  Transformer tf(m->config, m->weights, *backend);
  tf.set_decode_graphs(true);
  KvCache cache(m->config, 4, DType::F16, backend.get());
  for (int32_t pos = 0; pos < 4; ++pos) tf.forward(std::vector<int32_t>{1}, pos, cache);
  EXPECT_EQ(tf.graph_replays(), 3);  // step 0 direct, step 1 recorded and replayed, 2 and 3 replayed
  EXPECT_THROW(tf.forward(std::vector<int32_t>{1}, 4, cache), Error);
  EXPECT_THROW(tf.forward(std::vector<int32_t>{int32_t(m->config.n_vocab)}, 3, cache), Error);
  EXPECT_THROW(tf.forward(std::vector<int32_t>{-1}, 3, cache), Error);
  // Still replays correctly after the rejections (no capture left open).
  KvCache ref_cache(m->config, 4, DType::F16, backend.get());
  Transformer direct(m->config, m->weights, *backend);
  direct.set_decode_graphs(false);
  for (int32_t pos = 0; pos < 4; ++pos) direct.forward(std::vector<int32_t>{1}, pos, ref_cache);
  const std::vector<float> want = copy_row(direct.forward(std::vector<int32_t>{2}, 3, ref_cache));
  const Tensor got = tf.forward(std::vector<int32_t>{2}, 3, cache);
  EXPECT_LE(relative_error(got, Tensor::view(const_cast<float*>(want.data()), DType::F32, {1, int64_t(want.size())})),
            kRelTol);
  EXPECT_EQ(tf.graph_replays(), 4);
}

}  // namespace
}  // namespace llmr::testing
