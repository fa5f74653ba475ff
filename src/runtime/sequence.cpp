#include "runtime/sequence.h"

namespace llmr {

Sequence::Sequence(int64_t id, SequenceParams params)
    : tokens(params.prompt), submitted(Clock::now()), id_(id), params_(std::move(params)),
      sampler_(params_.sampling) {}

std::optional<SequenceEvent> Sequence::next(std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, wait, [&] { return !events_.empty(); })) return std::nullopt;
  SequenceEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

void Sequence::push(SequenceEvent e) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_one();
}

bool Sequence::backend_can_sample() const {
  return params_.logit_bias.empty() && params_.presence_penalty == 0 && params_.frequency_penalty == 0 &&
         sampler_.backend_can_sample();
}

int32_t Sequence::sample(const float* logits, int64_t n_vocab) {
  work_.assign(logits, logits + n_vocab);
  for (auto [id, bias] : params_.logit_bias)
    if (id >= 0 && id < n_vocab) work_[size_t(id)] += bias;
  if (params_.presence_penalty != 0 || params_.frequency_penalty != 0)
    for (auto [id, n] : counts_)
      work_[size_t(id)] -= params_.presence_penalty + params_.frequency_penalty * float(n);
  const int32_t next = sampler_.sample(work_, tokens);
  ++counts_[next];
  return next;
}

}  // namespace llmr
