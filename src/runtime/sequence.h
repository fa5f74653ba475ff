#pragma once
// One generation request as the scheduler sees it: its tokens, its blocks, its sampler, and a
// channel of events (tokens, then an end) that the request's HTTP thread reads.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/sampler.h"

namespace llmr {

struct SequenceParams {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 128;
  SamplingParams sampling;          // temperature 0 = greedy
  float presence_penalty = 0;       // OpenAI: subtracted once from each token already generated
  float frequency_penalty = 0;      // OpenAI: subtracted per occurrence among generated tokens
  std::vector<std::pair<int32_t, float>> logit_bias;
  bool stop_at_end_token = true;    // end-of-generation tokens (eos, <|im_end|>, ...) end it
};

struct SequenceEvent {
  enum class Kind { Token, Finished, Failed } kind = Kind::Token;
  int32_t token = -1;
  std::string finish_reason;  // "stop" | "length" | "cancelled"
  std::string error;
};

class Sequence {
 public:
  using Clock = std::chrono::steady_clock;
  Sequence(int64_t id, SequenceParams params);

  // Consumer side (the request's thread). Waits up to `wait` for the next event.
  std::optional<SequenceEvent> next(std::chrono::milliseconds wait);
  // Stops generation: the scheduler frees its blocks at its next step.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  int64_t id() const { return id_; }
  int64_t prompt_tokens() const { return int64_t(params_.prompt.size()); }

  // Scheduler side.
  void push(SequenceEvent e);
  // Picks the next token from this sequence's logits row (penalties, bias, then the sampler).
  int32_t sample(const float* logits, int64_t n_vocab);
  // Whether Backend::sample may pick it instead: no bias or penalty to apply on the host first.
  bool backend_can_sample() const;
  // The settings and draw for Backend::sample (advances the sampler as sample() would).
  SampleRow next_row() { return sampler_.next_row(); }

  const SequenceParams& params() const { return params_; }
  std::vector<int32_t> tokens;   // prompt then generated
  std::vector<int32_t> blocks;   // block table
  int64_t n_computed = 0;        // tokens whose keys and values are in the cache
  int64_t n_published = 0;       // full blocks offered to the prefix cache
  int64_t generated = 0;
  bool finished = false;
  Clock::time_point submitted, last_token;

 private:
  int64_t id_;
  SequenceParams params_;
  Sampler sampler_;
  std::unordered_map<int32_t, int32_t> counts_;  // generated token -> occurrences
  std::vector<float> work_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SequenceEvent> events_;
};

}  // namespace llmr
