#pragma once
// Continuous batching: one thread runs steps over the one model; sequences join and leave at token
// boundaries, prompts prefill in chunks beside running decodes, KV lives in a paged cache.
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/cpu/thread_pool.h"
#include "runtime/batched_forward.h"
#include "runtime/paged_kv.h"
#include "runtime/scheduler_stats.h"
#include "runtime/sequence.h"
#include "tokenizer/tokenizer.h"

namespace llmr {

struct SchedulerOptions {
  int64_t n_ctx = 0;            // tokens per sequence, prompt and generated
  int max_batch = 32;           // sequences running at once
  int max_queue = 128;          // sequences waiting for a slot; more are refused
  int64_t block_size = 16;
  int64_t n_blocks = 0;         // 0 = enough for max_batch full contexts
  int64_t prefill_chunk = 64;   // prompt tokens per sequence per step
  int64_t step_tokens = 256;    // tokens per step over all sequences
  DType kv_type = DType::F16;
};

class Scheduler {
 public:
  // is_end: end-of-generation tokens; may be null.
  Scheduler(Transformer& model, SchedulerOptions options,
            const Tokenizer* tokenizer);
  ~Scheduler();

  // Queues the sequences together (n choices of one request); empty when the queue has no room.
  // Throws Error when a prompt or max_tokens does not fit the context.
  std::vector<std::shared_ptr<Sequence>> submit(std::vector<SequenceParams> params);

  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return options_; }
  void stop();

 private:
  void loop();
  bool admit(Sequence& s);  // gives it blocks; false when too few are free
  void finish(Sequence& s, const std::string& reason);
  void step();
  // next[sampled[j]] = the token owners[sampled[j]] draws from row j of logits: on the host, or by the
  // backend when the logits live in its memory (rows with a bias or penalty still come to the host).
  void draw(const Tensor& logits, std::span<const size_t> sampled, std::span<Sequence* const> owners,
            std::vector<int32_t>& next);

  SchedulerOptions options_;
  const Tokenizer* tokenizer_;
  Backend& backend_;
  std::unique_ptr<BatchedForward> model_;
  std::unique_ptr<PagedKvCache> cache_;
  std::unique_ptr<cpu::ThreadPool> sampling_pool_;  // draws the batch's next tokens in parallel
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Sequence>> waiting_;
  std::vector<std::shared_ptr<Sequence>> running_;  // touched by the loop thread only
  SchedulerStats stats_;  // under mu_
  int64_t next_id_ = 1;
  bool stopping_ = false;
  bool trace_steps_ = false;  // LLMR_TRACE_STEPS: one line per step on stderr
  std::thread thread_;
};

}  // namespace llmr
