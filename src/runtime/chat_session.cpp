#include "runtime/chat_session.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "tokenizer/tokenizer_spec.h"

namespace llmr {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ChatSession::ChatSession(Transformer& model, KvCache& cache, const Tokenizer& tokenizer, ChatTemplate chat_template,
                         std::string bos_token, std::string eos_token, const SamplingParams& sampling,
                         std::string system_prompt, int64_t batch)
    : model_(model),
      cache_(cache),
      tok_(tokenizer),
      template_(std::move(chat_template)),
      bos_(std::move(bos_token)),
      eos_(std::move(eos_token)),
      system_(std::move(system_prompt)),
      sampler_(sampling),
      batch_(batch) {
  check(batch > 0, "chat: batch size must be positive");
  reset();
}

void ChatSession::reset() {
  messages_ = nlohmann::ordered_json::array();
  if (!system_.empty()) messages_.push_back({{"role", "system"}, {"content", system_}});
}

std::vector<int32_t> ChatSession::render_tokens() const {
  ChatTemplateInputs in;
  in.messages = messages_;
  in.add_generation_prompt = true;
  in.bos_token = bos_;
  in.eos_token = eos_;
  // Special tokens written by the template (<|im_start|>, the BOS string) are parsed as themselves.
  std::vector<int32_t> ids = tok_.encode(template_.render(in), false, true);
  const int32_t bos = tok_.bos_id();
  if (tok_.spec().add_bos && bos >= 0 && (ids.empty() || ids[0] != bos)) ids.insert(ids.begin(), bos);
  return ids;
}

// Runs the tokens the cache lacks; returns the last token's logits.
Tensor ChatSession::prefill(const std::vector<int32_t>& tokens) {
  size_t keep = 0;
  while (keep < cached_.size() && keep < tokens.size() && cached_[keep] == tokens[keep]) ++keep;
  if (keep == tokens.size()) --keep;  // the last token must run again for its logits
  cached_.resize(keep);
  stats_.reused_tokens = int64_t(keep);
  Tensor logits;
  for (size_t begin = keep; begin < tokens.size(); begin += size_t(batch_)) {
    const size_t n = std::min(tokens.size() - begin, size_t(batch_));
    const std::span<const int32_t> chunk(tokens.data() + begin, n);
    // Positions already overwritten are dropped from cached_ first, so a failure leaves it truthful.
    logits = model_.forward(chunk, int64_t(begin), cache_, false, logits_at());
    cached_.insert(cached_.end(), chunk.begin(), chunk.end());
  }
  return logits;
}

std::string ChatSession::send(const std::string& user, int64_t max_tokens,
                              const std::function<bool(const std::string&)>& on_text) {
  const nlohmann::ordered_json before = messages_;
  messages_.push_back({{"role", "user"}, {"content", user}});
  try {
    std::string reply = respond(max_tokens, on_text);
    messages_.push_back({{"role", "assistant"}, {"content", reply}});
    return reply;
  } catch (...) {
    messages_ = before;  // cached_ stays truthful on its own (see prefill)
    throw;
  }
}

std::string ChatSession::respond(int64_t max_tokens, const std::function<bool(const std::string&)>& on_text) {
  stats_ = ChatTurnStats{};
  const std::vector<int32_t> tokens = render_tokens();
  check(!tokens.empty(), "chat: the rendered conversation is empty");
  check(int64_t(tokens.size()) < cache_.n_ctx(),
        "chat: the conversation has " + std::to_string(tokens.size()) + " tokens; the context holds " +
            std::to_string(cache_.n_ctx()) + " (/reset to start over, or a larger -c)");
  stats_.prompt_tokens = int64_t(tokens.size());

  auto t0 = std::chrono::steady_clock::now();
  Tensor logits = prefill(tokens);
  stats_.prefill_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  StreamDecoder stream(tok_);
  std::string reply;
  for (int64_t i = 0; i < max_tokens; ++i) {
    const int32_t next = sample_next(sampler_, model_.backend(), logits, cached_);
    if (tok_.is_end_of_generation(next)) {
      stats_.ended = true;
      break;
    }
    ++stats_.generated_tokens;
    const std::string piece = stream.push(next);
    reply += piece;
    if (on_text && !on_text(piece)) {
      stats_.stopped = true;
      break;
    }
    if (int64_t(cached_.size()) + 1 >= cache_.n_ctx() || i + 1 == max_tokens) break;
    logits = model_.forward({&next, 1}, int64_t(cached_.size()), cache_, false, logits_at());
    cached_.push_back(next);
  }
  const std::string rest = stream.flush();
  reply += rest;
  if (on_text && !rest.empty()) on_text(rest);
  stats_.generation_seconds = seconds_since(t0);
  return reply;
}

}  // namespace llmr
