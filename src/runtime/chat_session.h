#pragma once
// A multi-turn conversation with one model: the whole conversation is re-rendered through the chat
// template each turn, and only the tokens after the longest prefix already in the KV cache are
// prefilled (templates may re-render earlier turns differently, so the prefix is measured, not assumed).
#include <functional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "model/transformer.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace llmr {

struct ChatTurnStats {
  int64_t prompt_tokens = 0;     // the rendered conversation, tokenized
  int64_t reused_tokens = 0;     // of those, already in the cache
  int64_t generated_tokens = 0;
  double prefill_seconds = 0, generation_seconds = 0;
  bool ended = false;            // the model produced an end-of-generation token
  bool stopped = false;          // on_text asked to stop
};

class ChatSession {
 public:
  ChatSession(Transformer& model, KvCache& cache, const Tokenizer& tokenizer, ChatTemplate chat_template,
              std::string bos_token, std::string eos_token, const SamplingParams& sampling,
              std::string system_prompt = "", int64_t batch = 512);

  // Adds the user's message and streams the reply to on_text piece by piece (whole UTF-8 only);
  // on_text returns false to stop, and the partial reply is kept. At most max_tokens are generated.
  // On error (template, context full) the conversation is left as it was before the call.
  std::string send(const std::string& user, int64_t max_tokens,
                   const std::function<bool(const std::string&)>& on_text);

  // Forgets the turns (the system prompt stays); cached tokens stay reusable for the next turn.
  void reset();

  const nlohmann::ordered_json& messages() const { return messages_; }
  const ChatTurnStats& last_turn() const { return stats_; }
  // The conversation as the model will next see it (rendered with add_generation_prompt).
  std::vector<int32_t> render_tokens() const;

 private:
  Tensor prefill(const std::vector<int32_t>& tokens);
  // Logits stay in the backend's memory for Backend::sample unless a repetition penalty needs the host.
  LogitsAt logits_at() const {
    return sampler_.backend_can_sample() && sampler_.device_faster_alone() ? LogitsAt::Backend : LogitsAt::Host;
  }
  std::string respond(int64_t max_tokens, const std::function<bool(const std::string&)>& on_text);

  Transformer& model_;
  KvCache& cache_;
  const Tokenizer& tok_;
  ChatTemplate template_;
  std::string bos_, eos_, system_;
  Sampler sampler_;
  int64_t batch_;
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
  std::vector<int32_t> cached_;  // token ids whose keys and values are in cache_, positions 0..n-1
  ChatTurnStats stats_;
};

}  // namespace llmr
