// Continuous batching on the default model: batched greedy generation gives the tokens each
// sequence gets alone; blocks all return to the pool; prefix caching reuses blocks.
#include <gtest/gtest.h>

#include <chrono>

#include "runtime/engine.h"
#include "runtime/generator.h"
#include "runtime/scheduler.h"
#include "test_util.h"

namespace llmr {
namespace {

Engine& engine() {
  static Engine e([] {
    EngineOptions o;
    o.model_path = std::string(LLMR_SOURCE_DIR) + "/models/default.gguf";
    o.threads = 2;
    return o;
  }());
  return e;
}

std::vector<int32_t> random_prompt(int64_t n) {
  std::uniform_int_distribution<int32_t> id(3, int32_t(engine().config().n_vocab) - 1);
  std::vector<int32_t> p{engine().tokenizer()->bos_id()};
  while (int64_t(p.size()) < n) p.push_back(id(testing::rng()));
  return p;
}

std::vector<int32_t> alone(const std::vector<int32_t>& prompt, int64_t n) {
  auto cache = engine().new_cache();
  SamplingParams greedy;
  greedy.temperature = 0;
  Generator gen(engine().transformer(), *cache, greedy, 16);
  return gen.generate(prompt, n, nullptr, nullptr);
}

std::vector<int32_t> collect(Sequence& s, std::string* reason = nullptr) {
  std::vector<int32_t> out;
  while (true) {
    auto e = s.next(std::chrono::seconds(60));
    if (!e) throw Error("timed out waiting for a token");
    if (e->kind == SequenceEvent::Kind::Token) out.push_back(e->token);
    else {
      if (e->kind == SequenceEvent::Kind::Failed) throw Error(e->error);
      if (reason) *reason = e->finish_reason;
      return out;
    }
  }
}

SequenceParams greedy_params(std::vector<int32_t> prompt, int64_t n) {
  SequenceParams p;
  p.prompt = std::move(prompt);
  p.max_tokens = n;
  p.sampling.temperature = 0;
  p.stop_at_end_token = false;
  return p;
}

Scheduler make_scheduler(int64_t n_blocks = 0, int64_t prefill_chunk = 64) {
  SchedulerOptions o;
  o.n_ctx = engine().n_ctx();
  o.max_batch = 8;
  o.prefill_chunk = prefill_chunk;
  o.n_blocks = n_blocks;
  return Scheduler(engine().transformer(), o, engine().tokenizer());
}

TEST(Batching, BatchedLogitsMatchTheTransformer) {
  // One step holding three sequences (two prefills, one of them over scattered blocks) against
  // Transformer::forward on each alone: same ops, so the logits agree to float rounding.
  const auto& c = engine().config();
  PagedKvCache cache(c, 64, 16, DType::F16, engine().backend());
  BatchedForward model(engine().transformer());
  std::vector<std::vector<int32_t>> prompts{random_prompt(7), random_prompt(33), random_prompt(20)};
  std::vector<std::vector<int32_t>> tables{cache.allocate(1), {}, cache.allocate(2)};
  for (int32_t b : cache.allocate(6))  // every other block: a table that is not contiguous
    if (b % 2) tables[1].push_back(b);
  ASSERT_GE(tables[1].size(), 3u);
  std::vector<BatchItem> items;
  for (size_t i = 0; i < prompts.size(); ++i) items.push_back({prompts[i], 0, tables[i], true});
  Tensor logits = model.forward(items, cache);
  ASSERT_EQ(logits.rows(), 3);
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto kv = engine().new_cache();
    Tensor want = engine().transformer().forward(prompts[i], 0, *kv);
    float max_err = 0, max_abs = 0;
    for (int64_t v = 0; v < c.n_vocab; ++v) {
      max_err = std::max(max_err, std::fabs(want.row<float>(0)[v] - logits.row<float>(int64_t(i))[v]));
      max_abs = std::max(max_abs, std::fabs(want.row<float>(0)[v]));
    }
    EXPECT_LE(max_err, 1e-4f * max_abs) << "sequence " << i;
  }
}

TEST(Batching, GreedyBatchEqualsEachSequenceAlone) {
  auto sched = make_scheduler(0, 16);  // chunks of 16: prompts prefill across several steps
  std::vector<std::vector<int32_t>> prompts;
  std::uniform_int_distribution<int> len(2, 60);
  for (int i = 0; i < 6; ++i) prompts.push_back(random_prompt(len(testing::rng())));
  const int64_t n = 24;
  // Each alone first: the backend's thread pool serves one caller at a time.
  std::vector<std::vector<int32_t>> want;
  for (auto& p : prompts) want.push_back(alone(p, n));
  std::vector<std::shared_ptr<Sequence>> seqs;
  for (size_t i = 0; i < prompts.size(); ++i) {  // staggered arrivals: joins while others decode
    auto s = sched.submit({greedy_params(prompts[i], n)});
    ASSERT_EQ(s.size(), 1u);
    seqs.push_back(s[0]);
    if (i % 2) std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::string reason;
    EXPECT_EQ(collect(*seqs[i], &reason), want[i]) << "prompt " << i;
    EXPECT_EQ(reason, "length");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto st = sched.stats();
  EXPECT_EQ(st.kv.used, 0);
  EXPECT_EQ(st.kv.free, st.kv.total);
  EXPECT_EQ(st.generated_tokens, int64_t(prompts.size()) * n);
}

TEST(Batching, PrefixCacheReusesBlocksAndKeepsTokens) {
  auto sched = make_scheduler();
  const auto prompt = random_prompt(70);  // 4 full blocks of 16 cached, the rest computed
  const auto want = alone(prompt, 12);
  auto first = sched.submit({greedy_params(prompt, 12)});
  const auto a = collect(*first[0]);
  auto second = sched.submit({greedy_params(prompt, 12)});
  const auto b = collect(*second[0]);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, want);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto st = sched.stats();
  EXPECT_GE(st.kv.prefix_hits, 4);
  EXPECT_EQ(st.kv.used, 0);
}

TEST(Batching, CancelFreesBlocksAndQueueBoundRefuses) {
  SchedulerOptions o;
  o.n_ctx = engine().n_ctx();
  o.max_batch = 1;
  o.max_queue = 2;
  Scheduler sched(engine().transformer(), o, engine().tokenizer());
  auto running = sched.submit({greedy_params(random_prompt(10), 200)});
  ASSERT_EQ(running.size(), 1u);
  ASSERT_TRUE(running[0]->next(std::chrono::seconds(30)).has_value());  // it is generating
  auto queued = sched.submit({greedy_params(random_prompt(10), 5), greedy_params(random_prompt(10), 5)});
  EXPECT_EQ(queued.size(), 2u);
  EXPECT_TRUE(sched.submit({greedy_params(random_prompt(10), 5)}).empty());  // queue full
  running[0]->cancel();
  std::string reason;
  collect(*running[0], &reason);
  EXPECT_EQ(reason, "cancelled");
  for (auto& s : queued) EXPECT_EQ(collect(*s).size(), 5u);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(sched.stats().kv.used, 0);
  // Too long for the context: a clear error, nothing queued.
  EXPECT_THROW(sched.submit({greedy_params(random_prompt(engine().n_ctx()), 1)}), Error);
  EXPECT_THROW(sched.submit({greedy_params(random_prompt(10), engine().n_ctx())}), Error);
}

TEST(PagedKv, AllocateReleaseAndEviction) {
  PagedKvCache cache(engine().config(), 8, 4, DType::F16, engine().backend());
  auto a = cache.allocate(5);
  EXPECT_EQ(cache.available(), 3);
  EXPECT_THROW(cache.allocate(4), Error);
  std::vector<int32_t> tokens = random_prompt(13);
  for (int64_t i = 0; i < 3; ++i) cache.publish(a[size_t(i)], tokens, i);
  cache.release(a);
  EXPECT_EQ(cache.stats().used, 0);
  EXPECT_EQ(cache.stats().cached, 3);
  auto hit = cache.match_prefix(tokens);  // 3 full blocks of 4 before the last token
  EXPECT_EQ(hit, std::vector<int32_t>(a.begin(), a.begin() + 3));
  std::vector<int32_t> other = tokens;
  other[5] ^= 1;  // differs inside block 1: only block 0 matches
  EXPECT_EQ(cache.match_prefix(other).size(), 1u);
  cache.release(hit);
  cache.release(std::vector<int32_t>{a[0]});
  auto all = cache.allocate(8);  // evicts every cached prefix
  EXPECT_EQ(cache.stats().cached, 0);
  EXPECT_TRUE(cache.match_prefix(tokens).empty());
  cache.release(all);
  EXPECT_EQ(cache.stats().free, 8);
}

}  // namespace
}  // namespace llmr
