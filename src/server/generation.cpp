#include "server/generation.h"

#include "server/stop_matcher.h"

namespace llmr::server {

GenerationOutcome run_generation(const std::vector<std::shared_ptr<Sequence>>& seqs, const Tokenizer& tok,
                                 const std::vector<std::string>& stops, HttpResponder& client,
                                 const DeltaFn& on_delta, const FinishFn& on_finish, int32_t prime_token) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  GenerationOutcome out;
  out.choices.resize(seqs.size());
  std::vector<StreamDecoder> decoders;
  std::vector<StopMatcher> matchers;
  std::vector<bool> done(seqs.size(), false);
  for (size_t i = 0; i < seqs.size(); ++i) {
    decoders.emplace_back(tok, true);
    if (prime_token >= 0) decoders.back().push(prime_token);
    matchers.emplace_back(stops);
  }
  size_t remaining = seqs.size();
  auto cancel_all = [&] {
    for (auto& s : seqs) s->cancel();
  };
  auto end_choice = [&](size_t i, const std::string& reason) {
    done[i] = true;
    --remaining;
    ChoiceResult& c = out.choices[i];
    c.finish_reason = reason;
    if (reason != "stop" || !matchers[i].stopped()) {
      std::string tail = decoders[i].flush();
      tail = matchers[i].push(tail);
      if (!matchers[i].stopped()) tail += matchers[i].flush();
      if (!tail.empty()) {
        c.text += tail;
        if (!on_delta(i, tail)) out.client_gone = true;
      }
    }
    if (!out.client_gone && !on_finish(i, c)) out.client_gone = true;
  };
  auto last_check = Clock::now();
  while (remaining > 0 && !out.client_gone) {
    bool progressed = false;
    for (size_t i = 0; i < seqs.size() && !out.client_gone; ++i) {
      if (done[i]) continue;
      // Wait on the first unfinished sequence; only peek at the others.
      auto ev = seqs[i]->next(std::chrono::milliseconds(progressed ? 0 : 20));
      if (!ev) continue;
      progressed = true;
      ChoiceResult& c = out.choices[i];
      if (ev->kind == SequenceEvent::Kind::Failed) {
        out.error = ev->error;
        cancel_all();
        return out;
      }
      if (ev->kind == SequenceEvent::Kind::Finished) {
        end_choice(i, ev->finish_reason == "cancelled" ? "stop" : ev->finish_reason);
        continue;
      }
      if (c.completion_tokens == 0) out.first_token_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      ++c.completion_tokens;
      c.tokens.push_back(ev->token);
      std::string piece = matchers[i].push(decoders[i].push(ev->token));
      c.text += piece;
      if (!matchers[i].stopped() && !on_delta(i, piece)) out.client_gone = true;
      if (matchers[i].stopped()) {
        seqs[i]->cancel();
        end_choice(i, "stop");
      }
    }
    // A client that hung up (streamed or not) cancels its sequences within a step or two.
    if (Clock::now() - last_check > std::chrono::milliseconds(20)) {
      last_check = Clock::now();
      if (client.client_gone()) out.client_gone = true;
    }
  }
  if (out.client_gone) cancel_all();
  out.total_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

}  // namespace llmr::server
