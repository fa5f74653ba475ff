#include "runtime/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace llmr {
namespace {
double seconds(Sequence::Clock::duration d) { return std::chrono::duration<double>(d).count(); }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

Scheduler::Scheduler(Transformer& model, SchedulerOptions options, const Tokenizer* tokenizer)
    : options_(options), tokenizer_(tokenizer), backend_(model.backend()) {
  check(options_.n_ctx > 1, "scheduler: the context must hold at least 2 tokens");
  check(options_.max_batch >= 1 && options_.max_batch <= 4096, "--parallel must be in [1, 4096]");
  check(options_.max_queue >= 0, "--queue must not be negative");
  check(options_.prefill_chunk >= 1 && options_.step_tokens >= options_.max_batch,
        "scheduler: step_tokens must be at least max_batch and prefill_chunk positive");
  const int64_t per_seq = ceil_div(options_.n_ctx, options_.block_size);
  if (options_.n_blocks == 0) options_.n_blocks = per_seq * options_.max_batch;
  check(options_.n_blocks >= per_seq, "--kv-blocks " + std::to_string(options_.n_blocks) +
                                          " cannot hold one full context (" + std::to_string(per_seq) + " blocks)");
  model_ = std::make_unique<BatchedForward>(model);
  const char* trace = std::getenv("LLMR_TRACE_STEPS");
  trace_steps_ = trace && *trace && *trace != '0';
  // Sampling is light per token but scans the whole vocabulary: one thread per logical CPU, up to 16.
  sampling_pool_ = std::make_unique<cpu::ThreadPool>(int(std::clamp(std::thread::hardware_concurrency(), 1u, 16u)));
  cache_ = std::make_unique<PagedKvCache>(model.config(), options_.n_blocks, options_.block_size, options_.kv_type,
                                          backend_);
  stats_.kv = cache_->stats();
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<std::shared_ptr<Sequence>> Scheduler::submit(std::vector<SequenceParams> params) {
  for (const SequenceParams& p : params) {
    const auto n = int64_t(p.prompt.size());
    check(n > 0, "the prompt is empty");
    check(n < options_.n_ctx, "the prompt has " + std::to_string(n) + " tokens; the context holds " +
                                  std::to_string(options_.n_ctx) + " (prompt and completion together)");
    check(p.max_tokens >= 1, "max_tokens must be at least 1");
    check(p.max_tokens <= options_.n_ctx - n,
          "max_tokens " + std::to_string(p.max_tokens) + " plus the prompt's " + std::to_string(n) +
              " tokens exceed the context of " + std::to_string(options_.n_ctx));
    p.sampling.validate();
  }
  std::vector<std::shared_ptr<Sequence>> out;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || int64_t(waiting_.size() + params.size()) > options_.max_queue) return out;
    for (SequenceParams& p : params) {
      out.push_back(std::make_shared<Sequence>(next_id_++, std::move(p)));
      waiting_.push_back(out.back());
    }
    stats_.queue_depth = int64_t(waiting_.size());
  }
  cv_.notify_all();
  return out;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool Scheduler::admit(Sequence& s) {
  const int64_t want = ceil_div(int64_t(s.tokens.size()) + s.params().max_tokens, options_.block_size);
  std::vector<int32_t> blocks = cache_->match_prefix(s.tokens);
  if (want - int64_t(blocks.size()) > cache_->available()) {
    cache_->release(blocks);
    return false;
  }
  std::vector<int32_t> fresh = cache_->allocate(want - int64_t(blocks.size()));
  s.n_computed = int64_t(blocks.size()) * options_.block_size;
  s.n_published = int64_t(blocks.size());
  blocks.insert(blocks.end(), fresh.begin(), fresh.end());
  s.blocks = std::move(blocks);
  return true;
}

void Scheduler::finish(Sequence& s, const std::string& reason) {
  if (s.finished) return;
  s.finished = true;
  cache_->release(s.blocks);
  s.blocks.clear();
  SequenceEvent e;
  e.kind = SequenceEvent::Kind::Finished;
  e.finish_reason = reason;
  s.push(std::move(e));
  std::lock_guard lock(mu_);
  ++(reason == "cancelled" ? stats_.cancelled : stats_.finished);
}

void Scheduler::loop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running_.empty(); });
      if (stopping_) break;
    }
    try {
      step();
    } catch (const std::exception& e) {
      // A failed step fails the sequences in it; their blocks go back to the pool.
      for (auto& s : running_) {
        if (s->finished) continue;
        s->finished = true;
        cache_->release(s->blocks);
        s->blocks.clear();
        s->push(SequenceEvent{SequenceEvent::Kind::Failed, -1, "", e.what()});
        std::lock_guard lock(mu_);
        ++stats_.failed;
      }
      running_.clear();
    }
    std::lock_guard lock(mu_);
    stats_.running = int64_t(running_.size());
    stats_.kv = cache_->stats();
  }
  for (auto& s : running_) finish(*s, "cancelled");
  std::lock_guard lock(mu_);
  for (auto& s : waiting_) s->push(SequenceEvent{SequenceEvent::Kind::Failed, -1, "", "the server is shutting down"});
  waiting_.clear();
}

void Scheduler::draw(const Tensor& logits, std::span<const size_t> sampled, std::span<Sequence* const> owners,
                     std::vector<int32_t>& next) {
  const int64_t n_vocab = logits.cols();
  if (sampled.empty()) return;
  if (logits.device == Device::Host) {
    // Sampling scans the whole vocabulary per sequence: the sequences draw side by side.
    sampling_pool_->parallel_for(int64_t(sampled.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j)
        next[sampled[size_t(j)]] = owners[sampled[size_t(j)]]->sample(logits.row<float>(j), n_vocab);
    });
    return;
  }
  // One call draws every row on the device; rows the host must draw get a greedy placeholder there
  // (their sampler is not advanced) and are downloaded one by one.
  std::vector<SampleRow> rows(sampled.size());
  std::vector<size_t> on_host;
  for (size_t j = 0; j < sampled.size(); ++j) {
    Sequence& s = *owners[sampled[j]];
    if (s.backend_can_sample()) rows[j] = s.next_row();
    else on_host.push_back(j);
  }
  std::vector<int32_t> ids(sampled.size());
  backend_.sample(logits, rows, ids);
  for (size_t j = 0; j < sampled.size(); ++j) next[sampled[j]] = ids[j];
  std::vector<float> row(static_cast<size_t>(n_vocab));
  for (size_t j : on_host) {
    const Tensor src = Tensor::view(logits.slice_rows(int64_t(j), 1).data, DType::F32, {1, n_vocab}, logits.device);
    backend_.download(src, row.data());
    next[sampled[j]] = owners[sampled[j]]->sample(row.data(), n_vocab);
  }
}

void Scheduler::step() {
  // Admit waiting sequences (first come, first served) while slots and blocks last.
  {
    std::lock_guard lock(mu_);
    while (!waiting_.empty() && int64_t(running_.size()) < options_.max_batch) {
      auto& s = waiting_.front();
      if (s->cancelled()) {
        s->finished = true;
        s->push(SequenceEvent{SequenceEvent::Kind::Finished, -1, "cancelled", ""});
        ++stats_.cancelled;
        waiting_.pop_front();
        continue;
      }
      if (!admit(*s)) break;
      running_.push_back(s);
      waiting_.pop_front();
    }
    stats_.queue_depth = int64_t(waiting_.size());
  }
  // Cancelled sequences (stop sequence found, client gone) leave before the step.
  for (auto& s : running_)
    if (s->cancelled()) finish(*s, "cancelled");
  std::erase_if(running_, [](const auto& s) { return s->finished; });
  if (running_.empty()) return;

  // Decodes (one token each) first, then prompt chunks within the step's token budget.
  std::vector<BatchItem> items;
  std::vector<Sequence*> owners;
  int64_t budget = options_.step_tokens;
  for (auto& s : running_)
    if (int64_t(s->tokens.size()) - s->n_computed == 1) {
      items.push_back({std::span(s->tokens).subspan(size_t(s->n_computed), 1), s->n_computed, s->blocks, true});
      owners.push_back(s.get());
      --budget;
    }
  int64_t prompt_tokens = 0;
  for (auto& s : running_) {
    const int64_t pending = int64_t(s->tokens.size()) - s->n_computed;
    if (pending <= 1 || budget <= 0) continue;
    const int64_t n = std::min({pending, options_.prefill_chunk, budget});
    items.push_back({std::span(s->tokens).subspan(size_t(s->n_computed), size_t(n)), s->n_computed, s->blocks,
                     n == pending});
    owners.push_back(s.get());
    budget -= n;
    prompt_tokens += n;
  }
  if (items.empty()) return;
  const auto started = Sequence::Clock::now();
  const Tensor logits = model_->forward(items, *cache_, LogitsAt::Backend);
  const auto now = Sequence::Clock::now();
  std::vector<size_t> sampled;
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].want_logits) sampled.push_back(i);
  std::vector<int32_t> next(items.size(), -1);
  draw(logits, sampled, owners, next);
  if (trace_steps_) {  // LLMR_TRACE_STEPS=1: where a step's time goes
    int64_t rows = 0;
    for (const BatchItem& it : items) rows += int64_t(it.tokens.size());
    std::fprintf(stderr, "step: %zu sequences, %lld rows (%lld prompt), forward %.2f ms, sampling %.2f ms\n",
                 items.size(), (long long)rows, (long long)prompt_tokens, 1e3 * seconds(now - started),
                 1e3 * seconds(Sequence::Clock::now() - now));
  }
  int64_t generated = 0;
  std::vector<double> ttfts, itls;
  for (size_t i = 0; i < items.size(); ++i) {
    Sequence& s = *owners[i];
    s.n_computed += int64_t(items[i].tokens.size());
    // Offer each newly completed block to the prefix cache.
    while ((s.n_published + 1) * options_.block_size <= s.n_computed) {
      cache_->publish(s.blocks[size_t(s.n_published)], s.tokens, s.n_published);
      ++s.n_published;
    }
    if (!items[i].want_logits) continue;
    const int32_t token = next[i];
    ++generated;
    (s.generated == 0 ? ttfts : itls).push_back(seconds(now - (s.generated == 0 ? s.submitted : s.last_token)));
    s.last_token = now;
    ++s.generated;
    const bool is_end = s.params().stop_at_end_token && tokenizer_ && tokenizer_->is_end_of_generation(token);
    if (is_end) {
      finish(s, "stop");
      continue;
    }
    s.tokens.push_back(token);
    s.push(SequenceEvent{SequenceEvent::Kind::Token, token, "", ""});
    if (s.generated >= s.params().max_tokens || int64_t(s.tokens.size()) >= options_.n_ctx) finish(s, "length");
  }
  std::erase_if(running_, [](const auto& s) { return s->finished; });
  std::lock_guard lock(mu_);
  ++stats_.steps;
  stats_.prompt_tokens += prompt_tokens;
  stats_.generated_tokens += generated;
  for (double t : ttfts) stats_.ttft.observe(t);
  for (double t : itls) stats_.inter_token.observe(t);
}

}  // namespace llmr
